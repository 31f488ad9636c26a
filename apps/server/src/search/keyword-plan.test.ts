import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { idf, planKeywords } from "./keyword-plan.ts";

describe("planKeywords", () => {
  test("weights terms by IDF, rarest first, and generates from the rarest within the budget", () => {
    const plan = planKeywords(
      [
        { lexeme: "alic", docs: 500 },
        { lexeme: "kitten", docs: 3 },
        { lexeme: "absent", docs: 0 },
        { lexeme: "adopt", docs: 40 },
      ],
      1000,
      100,
    );
    assert.deepEqual(
      plan.terms.map((t) => t.lexeme),
      ["kitten", "adopt", "alic"],
    );
    assert.equal(plan.terms[0]?.weight, idf(3, 1000));
    assert.ok(idf(3, 1000) > idf(40, 1000) && idf(40, 1000) > idf(500, 1000));
    assert.ok(idf(1000, 1000) > 0);
    assert.deepEqual(
      plan.generating.map((t) => t.lexeme),
      ["kitten", "adopt"],
    );
    assert.equal(plan.newestOnly, false);
  });

  test("always generates from the rarest term; past the budget, from its newest postings", () => {
    const plan = planKeywords(
      [
        { lexeme: "like", docs: 900 },
        { lexeme: "go", docs: 700 },
      ],
      1000,
      100,
    );
    assert.deepEqual(
      plan.generating.map((t) => t.lexeme),
      ["go"],
    );
    assert.equal(plan.newestOnly, true);
    assert.deepEqual(planKeywords([{ lexeme: "x", docs: 0 }], 10, 100).terms, []);
  });
});
