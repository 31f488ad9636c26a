import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Citation } from "@engram/contract";
import { countTokens } from "gpt-tokenizer";
import { dropNearDuplicates } from "./context-dedupe.ts";
import { type Candidate, LABEL_MAX_TOKENS, pack } from "./context-pack.ts";
import { ELLIPSIS, MAX_RUN, truncateToFit } from "./context-tokens.ts";

// Packing, truncation and near-duplicates, on the real tokenizer (o200k_base). The route tests
// (context.test.ts) run the same through the API on both backends.

const BUDGETS = [50, 200, 1_000, 32_000];
const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });
const clusterEnds = (s: string) =>
  new Set([0, ...[...graphemes.segment(s)].map((g) => g.index + g.segment.length)]);

/** Texts that a careless cut would break: emoji sequences, CJK, combining marks, Arabic. */
const UNITS = [
  "👩‍👩‍👧‍👦 family 🇵🇹🇯🇵 flags 👍🏽 skin tone ",
  "日本語の長い文章です。東京は晴れ、大阪は雨でした。",
  "e\u0301 a\u0308 n\u0303 o\u0302\u0323 combining marks, ",
  "مرحبا بالعالم، هذا نص طويل باللغة العربية ",
];
const UNICODE = UNITS.map((unit) => unit.repeat(40));
/** As long as a memory may be (16,384 UTF-16 units), in whole units. */
const LONGEST = UNITS.map((unit) => unit.repeat(Math.floor(16_384 / unit.length)));

const memory = (id: string, text: string, score: number, validFrom?: string): Candidate => ({
  type: "memory",
  id,
  text,
  score,
  validFrom,
});

const citation = (over: Partial<Citation> = {}): Citation => ({
  document_id: "doc_01ARZ3NDEKTSV4RRFFQ69G5FAV",
  filename: "handbook.pdf",
  media_type: "application/pdf",
  chunk_index: 0,
  page: 3,
  heading_path: ["Leave", "Parental leave"],
  start_offset: 0,
  end_offset: 10,
  ...over,
});

const chunk = (id: string, text: string, score: number, cite = citation()): Candidate => ({
  type: "knowledge",
  id,
  text,
  score,
  citation: cite,
});

/** The cut text (without its ellipsis) is a prefix of the original ending on a grapheme boundary. */
function assertCleanCut(original: string, cut: string) {
  assert.ok(cut.endsWith(ELLIPSIS), cut.slice(-20));
  const prefix = cut.slice(0, -ELLIPSIS.length);
  assert.ok(cut.isWellFormed() && !cut.includes("\uFFFD"), "no broken character");
  assert.ok(original.startsWith(prefix), "a prefix of the original");
  assert.ok(clusterEnds(original).has(prefix.length), `cut at ${prefix.length}: inside a cluster`);
}

describe("truncateToFit", () => {
  test("cuts on token and grapheme boundaries, never inside an emoji, CJK or combining sequence", () => {
    for (const text of UNICODE) {
      for (const max of [1, 2, 3, 5, 17, 64, 200]) {
        const cut = truncateToFit(text, (s) => countTokens(s) <= max, max);
        assert.ok(cut !== undefined);
        assert.ok(countTokens(cut) <= max, `${countTokens(cut)} > ${max}`);
        assertCleanCut(text, cut);
      }
    }
  });

  test("keeps as much as fits: one more token of the text would not fit", () => {
    const text = "The quick brown fox jumps over the lazy dog. ".repeat(50);
    const cut = truncateToFit(text, (s) => countTokens(s) <= 40, 40) as string;
    assert.ok(countTokens(cut) >= 38, String(countTokens(cut)));
    assert.equal(cut.at(-1), ELLIPSIS);
    assert.equal(
      truncateToFit(text, () => false, 40),
      undefined,
    );
  });
});

describe("dropNearDuplicates", () => {
  const texts = (items: { text: string }[]) => items.map((i) => i.text);

  test("same words, punctuation and case aside, appear once, at the best rank", () => {
    const kept = dropNearDuplicates([
      memory("m1", "Alice is allergic to peanuts.", 0.9),
      memory("m2", "Bob lives in Lyon", 0.8),
      memory("m3", "alice is ALLERGIC to peanuts!", 0.7),
      memory("m4", "Alice  is allergic to peanuts", 0.6),
    ]);
    assert.deepEqual(texts(kept), ["Alice is allergic to peanuts.", "Bob lives in Lyon"]);
  });

  test("a text inside another: the longer one is kept, at the better rank and score", () => {
    const kept = dropNearDuplicates([
      memory("m1", "Alice is allergic to peanuts", 0.9),
      memory("m2", "Bob lives in Lyon", 0.8),
      chunk("c1", "Staff note: Alice is allergic to peanuts and to shellfish.", 0.5),
    ]);
    assert.deepEqual(
      kept.map((k) => [k.id, k.score]),
      [
        ["c1", 0.9],
        ["m2", 0.8],
      ],
    );
    // The other way round: the shorter, lower-ranked one goes.
    const again = dropNearDuplicates([
      memory("m1", "Alice is allergic to peanuts and shellfish", 0.9),
      memory("m2", "allergic to peanuts", 0.5),
    ]);
    assert.deepEqual(texts(again), ["Alice is allergic to peanuts and shellfish"]);
  });

  test("high word overlap is a duplicate; different facts about the same subject are not", () => {
    const kept = dropNearDuplicates([
      memory("m1", "Alice moved to Lisbon in May 2023 with her two cats and her partner", 0.9),
      memory("m2", "In May 2023 Alice moved to Lisbon with her partner and her two cats", 0.8),
      memory("m3", "Alice likes tea", 0.7),
      memory("m4", "Alice likes coffee", 0.6),
      memory("m5", "tea", 0.5),
    ]);
    // m5's one word runs inside m3: it says nothing m3 does not.
    assert.deepEqual(texts(kept), [
      "Alice moved to Lisbon in May 2023 with her two cats and her partner",
      "Alice likes tea",
      "Alice likes coffee",
    ]);
  });

  test("words are whole words, CJK included; texts without words compare as they are", () => {
    const kept = dropNearDuplicates([
      memory("m1", "Alice likes steam trains", 0.9),
      memory("m2", "tea", 0.8),
      memory("m3", "東京は晴れでした", 0.7),
      memory("m4", "東京は晴れでした。", 0.6),
      memory("m5", "👍", 0.5),
      memory("m6", "🎉", 0.4),
    ]);
    assert.deepEqual(texts(kept), [
      "Alice likes steam trains",
      "tea",
      "東京は晴れでした",
      "👍",
      "🎉",
    ]);
  });
});

describe("pack", () => {
  const many = Array.from({ length: 150 }, (_, i) =>
    i % 3 === 2
      ? chunk(
          `c${i}`,
          `Section ${i} of the handbook explains rule ${i} in some detail.`,
          1 - i / 200,
        )
      : memory(
          `m${i}`,
          `Fact number ${i}: the user mentioned item ${i * 7}.`,
          1 - i / 200,
          "2023-05-07T10:00:00.000Z",
        ),
  );

  test("budgets from 50 to 32,000 are never exceeded, in both formats, and the best comes first", () => {
    for (const format of ["text", "json"] as const) {
      for (const budget of BUDGETS) {
        const packed = pack(many, budget, format);
        assert.equal(packed.tokens, countTokens(packed.context), `${format} ${budget}`);
        assert.ok(packed.tokens <= budget, `${format} ${budget}: ${packed.tokens}`);
        assert.equal(packed.entries[0]?.candidate.id, "m0");
        // Greedy in rank order: what went in is in rank order, and a larger budget holds more.
        const ranks = packed.entries.map((e) => many.indexOf(e.candidate));
        assert.deepEqual(
          ranks,
          [...ranks].sort((a, b) => a - b),
        );
        if (budget > 50) assert.ok(packed.tokens > budget * 0.8 || packed.entries.length === 150);
      }
    }
    assert.equal(pack(many, 32_000, "text").entries.length, 150);
  });

  test("the text form: a header per section, one line per item with its date or source", () => {
    const packed = pack(
      [
        memory("m1", "Alice is allergic to peanuts", 0.9, "2023-05-07T10:00:00.000Z"),
        chunk("c1", "Employees get 16 weeks of parental leave.", 0.8),
        memory("m2", "Alice moved to Lisbon", 0.7),
        chunk("c2", "Badges open the garage.", 0.6, citation({ page: null, heading_path: [] })),
      ],
      1_000,
      "text",
    );
    assert.equal(
      packed.context,
      [
        "Memories:",
        "- [2023-05-07] Alice is allergic to peanuts",
        "- Alice moved to Lisbon",
        "",
        "Knowledge:",
        "- [handbook.pdf, p. 3, Leave > Parental leave] Employees get 16 weeks of parental leave.",
        "- [handbook.pdf] Badges open the garage.",
      ].join("\n"),
    );
    assert.deepEqual(
      packed.entries.map((e) => e.candidate.id),
      ["m1", "c1", "m2", "c2"],
    );
  });

  test("the JSON form has the same sections, as a JSON document", () => {
    const packed = pack(
      [
        memory("m1", "Alice is allergic to peanuts", 0.9, "2023-05-07T10:00:00.000Z"),
        chunk("c1", "Employees get 16 weeks of parental leave.", 0.8),
      ],
      1_000,
      "json",
    );
    assert.deepEqual(JSON.parse(packed.context), {
      memories: [{ date: "2023-05-07", text: "Alice is allergic to peanuts" }],
      knowledge: [
        {
          source: "handbook.pdf, p. 3, Leave > Parental leave",
          text: "Employees get 16 weeks of parental leave.",
        },
      ],
    });
    assert.deepEqual(pack([], 50, "json"), { context: "{}", entries: [], tokens: 1 });
    assert.deepEqual(pack([], 50, "text"), { context: "", entries: [], tokens: 0 });
  });

  test("a best item over the budget is cut to fit (text and JSON), Unicode intact", () => {
    for (const text of [...LONGEST, "word ".repeat(3_276)]) {
      for (const format of ["text", "json"] as const) {
        for (const budget of [50, 200, 1_000]) {
          const packed = pack(
            [memory("m1", text, 0.9, "2024-01-02T00:00:00.000Z"), memory("m2", "short", 0.1)],
            budget,
            format,
          );
          assert.ok(packed.tokens <= budget && packed.tokens === countTokens(packed.context));
          const [first] = packed.entries;
          assert.ok(first?.truncated, `${format} ${budget}`);
          assert.equal(packed.entries.length, 1, "the cut item fills the budget");
          assertCleanCut(text, first.text);
          assert.ok(packed.context.isWellFormed() && !packed.context.includes("\uFFFD"));
          if (format === "json")
            assert.equal(JSON.parse(packed.context).memories[0].text, first.text);
          else assert.ok(packed.context.includes(`- [2024-01-02] ${first.text}`));
          // Cut close to the budget, not far below it.
          assert.ok(packed.tokens >= budget - 12, `${format} ${budget}: ${packed.tokens}`);
        }
      }
    }
  });

  test("an unbroken run over MAX_RUN characters ends the item there (BPE is quadratic in it)", () => {
    const runs = ["x".repeat(16_384), "日".repeat(16_384), "👍".repeat(8_192), "_".repeat(16_384)];
    for (const run of runs) {
      for (const format of ["text", "json"] as const) {
        const text = `Intro words ${run} and a tail`;
        const packed = pack(
          [memory("m1", text, 0.9), memory("m2", "Bob lives in Lyon", 0.5)],
          32_000,
          format,
        );
        const [first, second] = packed.entries;
        assert.ok(first?.truncated && second && !second.truncated);
        assertCleanCut(text, first.text);
        const kept = first.text.slice("Intro words ".length, -ELLIPSIS.length);
        assert.ok(kept.length <= MAX_RUN && kept.length >= MAX_RUN - 1, String(kept.length));
        assert.equal(packed.tokens, countTokens(packed.context));
      }
    }
  });

  test("a huge source label is cut, so a chunk still fits a 50-token budget", () => {
    const long = citation({
      filename: `${"very-long-file-name-".repeat(12)}.pdf`,
      heading_path: Array.from({ length: 20 }, (_, i) => `Heading number ${i}`),
    });
    for (const format of ["text", "json"] as const) {
      const packed = pack(
        [chunk("c1", "The garage opens at 7am. ".repeat(30), 1, long)],
        50,
        format,
      );
      assert.ok(packed.tokens <= 50);
      const label = packed.entries[0]?.label as string;
      assert.ok(countTokens(label) <= LABEL_MAX_TOKENS && label.endsWith(ELLIPSIS), label);
      assert.ok(packed.entries[0]?.text.length, "the text keeps some room");
    }
  });

  test("a large item further down is skipped while smaller ones fill the budget", () => {
    const packed = pack(
      [
        memory("m1", "Alice is allergic to peanuts", 0.9),
        memory("m2", "word ".repeat(400).trim(), 0.8),
        memory("m3", "Bob lives in Lyon", 0.7),
      ],
      100,
      "text",
    );
    assert.deepEqual(
      packed.entries.map((e) => e.candidate.id),
      ["m1", "m3"],
    );
    assert.ok(packed.entries.every((e) => !e.truncated));
  });
});
