import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PGlite } from "@electric-sql/pglite";
import { contentHash, keywordQuery, normalizeText } from "./memory-text.ts";

describe("normalizeText", () => {
  test("trims, folds every run of whitespace to one space and lower-cases", () => {
    assert.equal(normalizeText("  My DOG\tis\n\n called   Rex  "), "my dog is called rex");
    assert.equal(normalizeText("a\u00a0\u2003\u3000b"), "a b");
    assert.equal(normalizeText(" \t\n "), "");
  });

  test("applies Unicode NFKC, so compatibility forms compare equal", () => {
    assert.equal(normalizeText("ﬁne"), "fine");
    assert.equal(normalizeText("ＡＢＣ１２３"), "abc123");
    assert.equal(normalizeText("Cafe\u0301"), normalizeText("Café"));
    assert.equal(normalizeText("Ⅻ"), "xii");
  });

  test("keeps punctuation and inner content", () => {
    assert.equal(normalizeText("Don't -- stop!"), "don't -- stop!");
    assert.notEqual(normalizeText("ab"), normalizeText("a b"));
  });
});

describe("contentHash", () => {
  test("is a SHA-256 hex digest of the normalized text", () => {
    assert.match(contentHash("hello"), /^[0-9a-f]{64}$/);
    assert.equal(
      contentHash("hello"),
      "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    );
  });

  test("equal for texts that normalize alike, different otherwise", () => {
    assert.equal(contentHash("My dog is called Rex"), contentHash("  my DOG is\tcalled rex "));
    assert.equal(contentHash("Café"), contentHash("CAFE\u0301"));
    assert.notEqual(contentHash("My dog is called Rex"), contentHash("My dog is called Max"));
    assert.notEqual(contentHash("ab"), contentHash("a b"));
  });
});

/** Characters with a meaning in tsquery syntax, or that Postgres cannot take in text. */
const TSQUERY_SYNTAX = /[&|!()<>:*'"\\\s]/u;

/** Deterministic pseudo-random strings mixing syntax, letters, digits and odd Unicode. */
function* randomInputs(count: number): Generator<string> {
  const alphabet = [
    ..."&|!()<>:*'\"\\-+~^$@#%[]{};,./? \t\n",
    ..."abcXYZ0129",
    "é",
    "ß",
    "İ",
    "日本",
    "Ж",
    "\u0301",
    "\u0000",
    "\ud800",
    "😀",
    "٣",
    "ﬁ",
    "<->",
    "<2>",
    ":*",
    "OR",
    "AND",
  ];
  let seed = 42;
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed;
  };
  for (let i = 0; i < count; i++) {
    let s = "";
    const length = next() % 40;
    for (let j = 0; j < length; j++) s += alphabet[next() % alphabet.length];
    yield s;
  }
}

const ADVERSARIAL = [
  "",
  "   ",
  "&|!()",
  "cats & dogs",
  "a | b",
  "!negate",
  "(group)",
  "prefix:*",
  "weight:AB",
  "a <-> b",
  "a <3> b",
  "'quoted'",
  "back\\slash",
  "'; DROP TABLE memories; --",
  "\u0000",
  "lone \ud800 surrogate",
  "tab\tnew\nline",
];

describe("keywordQuery", () => {
  test("ORs the query's distinct words, lower-cased", () => {
    assert.equal(keywordQuery("Where does Alice live?"), "where | does | alice | live");
    assert.equal(keywordQuery("the THE The cat"), "the | cat");
    assert.equal(keywordQuery("zebra42 in 2024"), "zebra42 | in | 2024");
    assert.equal(keywordQuery("Ünïcödé 日本語"), "ünïcödé | 日本語");
  });

  test("is empty when the query has no letters or digits", () => {
    assert.equal(keywordQuery(""), "");
    assert.equal(keywordQuery("  ?!&|()*:  "), "");
  });

  test("keeps at most 64 words", () => {
    const words = Array.from({ length: 100 }, (_, i) => `w${i}`);
    const terms = keywordQuery(words.join(" ")).split(" | ");
    assert.equal(terms.length, 64);
    assert.deepEqual(terms, words.slice(0, 64));
  });

  test("never contains tsquery syntax, for any input", () => {
    for (const input of [...ADVERSARIAL, ...randomInputs(2_000)]) {
      const q = keywordQuery(input);
      if (q === "") continue;
      for (const term of q.split(" | ")) {
        assert.ok(term.length > 0, JSON.stringify(input));
        assert.doesNotMatch(term, TSQUERY_SYNTAX, JSON.stringify(input));
        assert.ok(!term.includes("\u0000"), JSON.stringify(input));
        assert.ok(term.isWellFormed(), JSON.stringify(input));
      }
    }
  });

  describe("against Postgres", () => {
    let db: PGlite;
    before(async () => {
      db = await PGlite.create();
    });
    after(async () => {
      await db.close();
    });

    test("to_tsquery accepts the result of every input", async () => {
      for (const input of [...ADVERSARIAL, ...randomInputs(300)]) {
        const q = keywordQuery(input);
        await assert.doesNotReject(
          db.query("SELECT to_tsquery('english', $1)", [q]),
          JSON.stringify(input),
        );
      }
    });

    test("matches a text sharing any one word, stemmed", async () => {
      const { rows } = await db.query<{ hit: boolean }>(
        "SELECT to_tsvector('english', $1) @@ to_tsquery('english', $2) AS hit",
        ["She adopted two kittens last spring", keywordQuery("Who adopts cats?")],
      );
      assert.equal(rows[0]?.hit, true);
    });
  });
});
