import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PGlite } from "@electric-sql/pglite";
import { openPGliteDatabase } from "../db/pglite-database.ts";
import { embeddingQuery, keywordQuery, tsqueryLiteral, withoutNames } from "./query-text.ts";

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

describe("query text", () => {
  test("embeddingQuery drops trailing question marks, and keeps a text that is only that", () => {
    assert.equal(embeddingQuery("Where does Alice live?"), "Where does Alice live");
    assert.equal(embeddingQuery("Really?? "), "Really");
    assert.equal(embeddingQuery("Is 1 < 2？"), "Is 1 < 2");
    assert.equal(embeddingQuery("What? No way"), "What? No way");
    assert.equal(embeddingQuery("??"), "??");
  });

  test("tsqueryLiteral quotes a lexeme so that tsquery reads it back unchanged", async () => {
    const db = await openPGliteDatabase(undefined);
    try {
      for (const lexeme of ["cat", "it's", "a\\b", "''", "日本語", "ünïcödé", "a b", "x:*"]) {
        const [row] = await db.asOwner((tx) =>
          tx.query<{ out: string[] }>(
            "SELECT array(SELECT unnest(tsvector_to_array(array_to_tsvector(ARRAY[$2::text]))) " +
              "WHERE array_to_tsvector(ARRAY[$2::text]) @@ $1::tsquery) AS out",
            [tsqueryLiteral(lexeme), lexeme],
          ),
        );
        assert.deepEqual(row?.out, [lexeme], lexeme);
      }
    } finally {
      await db.close();
    }
  });
});

test("withoutNames takes out the named people, possessives too, and keeps a query of only names", () => {
  assert.equal(
    withoutNames("What is Gina's favourite style of dance", ["Gina"]),
    "What is favourite style of dance",
  );
  assert.equal(withoutNames("Did jon and Gina both dance", ["Jon", "gina"]), "Did and both dance");
  assert.equal(withoutNames("Ginas Ginaball", ["Gina"]), "Ginas Ginaball");
  assert.equal(withoutNames("Gina", ["Gina"]), "Gina");
  assert.equal(withoutNames("Where is Dr. Smith (work)", ["Dr. Smith"]), "Where is (work)");
});
