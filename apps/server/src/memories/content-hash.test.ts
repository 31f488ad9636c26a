import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { contentHash, normalizeText } from "./content-hash.ts";

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
