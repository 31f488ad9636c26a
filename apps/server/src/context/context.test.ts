import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ContextResponse, GetContextBody } from "@engram/sdk";
import { countTokens } from "gpt-tokenizer";
import { makePdf } from "../testing/document-fixtures.ts";
import { add } from "../testing/memory-fixtures.ts";
import {
  counters,
  describeOnBackends,
  expectInvalidJson,
  expectProblem,
  expectUnauthenticated,
  ids,
  keyWith,
  type Tenant,
  tenant,
} from "../testing/route-suite.ts";

// The context endpoint: POST /v1/context, on each database backend (testing/route-suite.ts).
// Token counts are checked with the tokenizer library itself (o200k_base), not the server's code.

const BUDGETS = [50, 200, 1_000, 32_000];
const ELLIPSIS = "…";

/** The document chunk and memory ingested for a tenant, ready to search. */
async function ingest(
  t: Tenant,
  body: Parameters<Tenant["client"]["knowledge"]["createDocument"]>[0],
) {
  const { job_id } = await t.client.knowledge.createDocument(body);
  const job = await t.client.knowledge.waitForJob(job_id, { timeoutMs: 60_000 });
  assert.equal(job.state, "completed", JSON.stringify(job));
}

/** Asserts the budget holds on the tokenizer's own count, and the context is valid text. */
function assertWithin(r: ContextResponse, budget: number) {
  const tokens = countTokens(r.context);
  assert.equal(r.tokens_used, tokens, "tokens_used is the context's token count");
  assert.ok(tokens <= budget, `${tokens} tokens over a budget of ${budget}`);
  assert.equal(r.token_budget, budget);
  assert.ok(r.context.isWellFormed() && !r.context.includes("\uFFFD"), "no broken character");
}

/** A memory's text as a context line holds it: whitespace runs collapsed. */
const oneLine = (s: string) => s.replace(/\s+/gu, " ").trim();

/** Diet facts about one user, with dates, and a few unrelated ones. */
const FACTS = [
  "Alice is allergic to peanuts",
  "Alice is vegetarian since 2019",
  "Alice drinks oat milk in her coffee",
  "Alice dislikes coriander",
  "Alice's favourite restaurant serves Ethiopian food",
  "Alice bakes sourdough bread on Sundays",
  "Alice avoids gluten when she can",
  "Alice loves spicy Sichuan dishes",
];

describeOnBackends(
  "context routes",
  () => {
    describe("POST /v1/context", () => {
      test("budgets from 50 to 32,000 are never exceeded and never empty when something matches", async () => {
        const t = await tenant();
        await t.client.batchAddMemories({
          memories: [
            ...FACTS.map((text, i) => ({
              text,
              user_id: "alice",
              timestamp: `2023-0${(i % 9) + 1}-15T12:00:00.000Z`,
            })),
            // A very long memory (the longest accepted), natural text.
            { text: "Alice keeps a food diary. ".repeat(630), user_id: "alice" },
          ],
        });
        for (const format of ["text", "json"] as const) {
          for (const budget of BUDGETS) {
            const r = await t.client.context({
              query: "what does alice eat?",
              user_id: "alice",
              token_budget: budget,
              format,
            });
            assertWithin(r, budget);
            assert.ok(r.items.length > 0 && r.context.length > 0, `${format} ${budget}`);
            // Best first, and every item's text stands in the context.
            const scores = r.items.map((i) => i.score);
            assert.deepEqual(
              scores,
              [...scores].sort((a, b) => b - a),
            );
            for (const item of r.items) {
              const inContext = format === "json" ? JSON.stringify(item.text) : item.text;
              assert.ok(r.context.includes(inContext), item.text.slice(0, 40));
            }
          }
        }
        // The default budget is 1,000; a large budget holds every memory.
        const byDefault = await t.client.context({
          query: "what does alice eat?",
          user_id: "alice",
        });
        assertWithin(byDefault, 1_000);
        const all = await t.client.context({
          query: "what does alice eat?",
          user_id: "alice",
          token_budget: 32_000,
        });
        assert.equal(all.items.length, FACTS.length + 1);
        assert.ok(all.items.every((i) => !i.truncated));
      });

      test("Unicode and very long memories are cut on clean boundaries, never into broken text", async () => {
        const t = await tenant();
        const units = [
          "👩‍👩‍👧‍👦 zebrafamily 🇵🇹🇯🇵 flags 👍🏽 ",
          "東京の天気は晴れ、zebrafamily 大阪は雨でした。",
          "e\u0301a\u0308n\u0303o\u0302\u0323 zebrafamily combining, ",
        ];
        for (const [i, unit] of units.entries()) {
          const text = unit.repeat(Math.floor(16_384 / unit.length));
          await add(t, text, { user_id: `u${i}` });
          for (const format of ["text", "json"] as const) {
            for (const budget of [50, 200, 1_000, 32_000]) {
              const r = await t.client.context({
                query: "zebrafamily",
                user_id: `u${i}`,
                token_budget: budget,
                format,
              });
              assertWithin(r, budget);
              const [item] = r.items;
              assert.ok(item, `${i} ${format} ${budget}`);
              const stored = oneLine(text);
              if (item.truncated) {
                assert.ok(item.text.endsWith(ELLIPSIS));
                const prefix = item.text.slice(0, -ELLIPSIS.length);
                assert.ok(stored.startsWith(prefix), "a prefix of the memory");
                const clusters = new Intl.Segmenter(undefined, { granularity: "grapheme" });
                const ends = new Set(
                  [...clusters.segment(stored)].map((g) => g.index + g.segment.length),
                );
                assert.ok(ends.has(prefix.length), "cut between grapheme clusters");
              } else {
                assert.equal(item.text, stored);
              }
            }
          }
        }
        // An unbroken run longer than 256 characters (a blob, a repeated character) ends the item.
        await add(t, `zebrafamily ${"日".repeat(16_000)}`, { user_id: "blob" });
        const blob = await t.client.context({
          query: "zebrafamily",
          user_id: "blob",
          token_budget: 32_000,
        });
        assertWithin(blob, 32_000);
        assert.equal(blob.items[0]?.text, `zebrafamily ${"日".repeat(256)}${ELLIPSIS}`);
        assert.equal(blob.items[0]?.truncated, true);
      });

      test("near-duplicates appear once, across memories and knowledge", async () => {
        const t = await tenant();
        await t.client.batchAddMemories({
          memories: [
            { text: "Bob is allergic to peanuts" },
            { text: "bob is ALLERGIC to peanuts!" },
            { text: "Bob  is allergic to peanuts." },
            { text: "Bob lives in Lyon" },
            { text: "Bob has a cat named Tofu" },
          ],
        });
        await ingest(t, {
          filename: "staff.md",
          text: "Staff note: Bob is allergic to peanuts and carries an EpiPen.",
        });
        for (const format of ["text", "json"] as const) {
          const r = await t.client.context({ query: "Bob allergic peanuts", format });
          assertWithin(r, 1_000);
          const allergic = r.items.filter((i) => /allergic/i.test(i.text));
          // The chunk says everything the memories say: it is kept, at the best rank.
          assert.deepEqual(
            allergic.map((i) => [i.type, i.text]),
            [["knowledge", "Staff note: Bob is allergic to peanuts and carries an EpiPen."]],
          );
          assert.equal(r.items[0]?.type, "knowledge");
          assert.equal(r.context.match(/allergic/gi)?.length, 1, r.context);
          assert.ok(r.items.some((i) => i.text === "Bob lives in Lyon"));
          assert.equal(new Set(ids(r.items)).size, r.items.length);
        }
      });

      test("memories carry their dates and knowledge its citation, in the prompt-ready text", async () => {
        const t = await tenant();
        const peanuts = await add(t, "Carol is allergic to peanuts", {
          user_id: "carol",
          timestamp: "2023-05-07T10:00:00.000Z",
        });
        await ingest(t, {
          filename: "handbook.md",
          text: "# Leave\n\n## Parental leave\n\nEmployees get sixteen weeks of parental leave.",
        });
        const pdf = await makePdf([
          ["Warranty terms for the kettle."],
          ["The heating element is guaranteed for five years."],
        ]);
        const { job_id } = await t.client.knowledge.uploadDocument({
          bytes: pdf,
          filename: "warranty.pdf",
        });
        await t.client.knowledge.waitForJob(job_id, { timeoutMs: 60_000 });

        const r = await t.client.context({ query: "peanuts", user_id: "carol" });
        assert.ok(r.context.startsWith("Memories:\n- [2023-05-07] Carol is allergic to peanuts"));
        assert.deepEqual(r.items[0], {
          type: "memory",
          id: peanuts,
          text: "Carol is allergic to peanuts",
          score: r.items[0]?.score,
          valid_from: "2023-05-07T10:00:00.000Z",
        });

        const leave = await t.client.context({ query: "parental leave weeks", user_id: "carol" });
        assert.match(
          leave.context,
          /\nKnowledge:\n- \[handbook\.md, Leave > Parental leave\] Employees get sixteen weeks of parental leave\./,
        );
        const chunk = leave.items.find((i) => i.type === "knowledge");
        assert.equal(chunk?.citation?.filename, "handbook.md");
        assert.deepEqual(chunk?.citation?.heading_path, ["Leave", "Parental leave"]);
        assert.equal(chunk?.valid_from, undefined);

        const kettle = await t.client.context({
          query: "heating element guarantee",
          include: ["knowledge"],
        });
        assert.ok(
          kettle.context.startsWith(
            "Knowledge:\n- [warranty.pdf, p. 2] The heating element is guaranteed for five years.",
          ),
          kettle.context,
        );
        assert.equal(kettle.items[0]?.citation?.page, 2);
        assert.ok(kettle.items.every((i) => i.type === "knowledge"));
      });

      test("format json: the same items, the context a JSON document with the same sections", async () => {
        const t = await tenant();
        await add(t, "Dana waters the ferns on Sundays", {
          timestamp: "2024-02-03T00:00:00.000Z",
        });
        await add(t, "Dana's ferns live on the balcony");
        await ingest(t, {
          filename: "ferns.md",
          text: "# Ferns\n\nFerns like shade and moist soil.",
        });
        const body: GetContextBody = { query: "ferns", token_budget: 500 };
        const text = await t.client.context(body);
        const json = await t.client.context({ ...body, format: "json" });
        assertWithin(json, 500);
        assert.deepEqual(json.items, text.items);
        const doc = JSON.parse(json.context) as {
          memories: { date?: string; text: string }[];
          knowledge: { source: string; text: string }[];
        };
        assert.deepEqual(Object.keys(doc), ["memories", "knowledge"]);
        assert.deepEqual(
          doc.memories.find((m) => m.text === "Dana waters the ferns on Sundays"),
          { date: "2024-02-03", text: "Dana waters the ferns on Sundays" },
        );
        assert.deepEqual(doc.knowledge, [
          { source: "ferns.md, Ferns", text: "Ferns like shade and moist soil." },
        ]);
      });

      test("nothing matches: an empty context, not an error", async () => {
        const t = await tenant();
        assert.deepEqual(await t.client.context({ query: "anything at all" }), {
          context: "",
          items: [],
          tokens_used: 0,
          token_budget: 1_000,
        });
        const json = await t.client.context({ query: "anything", format: "json" });
        assert.equal(json.context, "{}");
        assert.equal(json.tokens_used, countTokens("{}"));
      });

      test("as_of, filters, session_id and reference_time reach the memory search", async () => {
        const t = await tenant();
        const old = await add(t, "Erin lives in Porto", {
          user_id: "erin",
          session_id: "s1",
          metadata: { kind: "home" },
          timestamp: "2020-01-01T00:00:00.000Z",
        });
        const recent = await add(t, "Erin works in Braga", {
          user_id: "erin",
          session_id: "s2",
          metadata: { kind: "work" },
          timestamp: "2024-01-01T00:00:00.000Z",
        });
        const ask = (extra: Partial<GetContextBody>) =>
          t.client.context({ query: "where is Erin", user_id: "erin", ...extra });
        assert.deepEqual(ids((await ask({ as_of: "2021-06-01T00:00:00.000Z" })).items), [old]);
        assert.deepEqual(ids((await ask({ filters: { kind: "work" } })).items), [recent]);
        assert.deepEqual(ids((await ask({ session_id: "s1" })).items), [old]);
        const at = await ask({ reference_time: "2024-06-01T00:00:00.000Z" });
        assert.deepEqual(new Set(ids(at.items)), new Set([old, recent]));
      });

      test("the query is embedded once for memories and knowledge together", async () => {
        const t = await tenant();
        await add(t, "Frank collects stamps");
        const before = counters();
        const query = `what does frank collect ${Date.now()}`;
        await t.client.context({ query, include: ["memories", "knowledge"] });
        const after = counters();
        assert.equal(after.query_cache_misses_total - before.query_cache_misses_total, 1);
        assert.equal(after.query_cache_hits_total - before.query_cache_hits_total, 1);
      });

      test("errors: budget, format, include, timestamps, filters and unknown fields name the field", async () => {
        const { client } = await tenant();
        const cases: [Record<string, unknown>, string, string][] = [
          ...[49, 32_001, 2.5, "1000", 0, -1].map(
            (token_budget): [Record<string, unknown>, string, string] => [
              { query: "q", token_budget },
              "validation_failed",
              "token_budget",
            ],
          ),
          [{}, "validation_failed", "query"],
          [{ query: "" }, "validation_failed", "query"],
          [{ query: "q".repeat(4_097) }, "validation_failed", "query"],
          [{ query: "q", format: "xml" }, "validation_failed", "format"],
          [{ query: "q", include: [] }, "validation_failed", "include"],
          [{ query: "q", include: ["memories", "memories"] }, "validation_failed", "include"],
          [{ query: "q", include: ["documents"] }, "validation_failed", "include[0]"],
          [{ query: "q", as_of: "yesterday" }, "validation_failed", "as_of"],
          [
            { query: "q", reference_time: "0000-01-01T00:00:00Z" },
            "validation_failed",
            "reference_time",
          ],
          [{ query: "q", filters: { kind: { near: 1 } } }, "invalid_filter", "filters.kind.near"],
          [{ query: "q", limit: 5 }, "validation_failed", "limit"],
          [{ query: "q", user_id: "u\u0000" }, "validation_failed", "user_id"],
        ];
        for (const [body, code, field] of cases) {
          await expectProblem(client.context(body as GetContextBody), 400, code, field);
        }
        await expectInvalidJson(await tenant(), "POST", "/v1/context");
        await expectUnauthenticated("POST", "/v1/context", { query: "q" });
      });

      test("security: another tenant's and another user's memories and documents never appear", async () => {
        const a = await tenant();
        const b = await tenant();
        await add(a, "Gina's locker code is 4711", { user_id: "gina" });
        await add(a, "Hugo's locker code is 9000", { user_id: "hugo" });
        await add(b, "Gina's locker code is 1234", { user_id: "gina" });
        await ingest(b, { filename: "codes.md", text: "The master locker code is 0000." });
        for (const format of ["text", "json"] as const) {
          const mine = await a.client.context({ query: "locker code", user_id: "gina", format });
          assert.ok(mine.context.includes("4711"));
          for (const secret of ["9000", "1234", "0000"]) {
            assert.ok(!mine.context.includes(secret), `${secret} leaked: ${mine.context}`);
          }
          assert.equal(mine.items.length, 1);
          const whole = await a.client.context({ query: "locker code", format });
          assert.ok(!whole.context.includes("1234") && !whole.context.includes("0000"));
          assert.equal(whole.items.length, 2);
        }
      });

      test("security: memories:read for memories, knowledge:read for knowledge (403 naming it)", async () => {
        const t = await tenant();
        await add(t, "Ivy plays the cello");
        await ingest(t, { filename: "music.md", text: "The cello has four strings." });
        const memoriesOnly = await keyWith(t, ["memories:read"]);
        const knowledgeOnly = await keyWith(t, ["knowledge:read"]);
        const neither = await keyWith(t, ["usage:read"]);
        const query = "cello";
        const forbidden = async (call: Promise<unknown>, scope: string) => {
          const problem = await expectProblem(call, 403, "forbidden");
          assert.match(problem.detail ?? "", new RegExp(`"${scope}"`));
        };
        await forbidden(memoriesOnly.context({ query, include: ["knowledge"] }), "knowledge:read");
        await forbidden(
          memoriesOnly.context({ query, include: ["memories", "knowledge"] }),
          "knowledge:read",
        );
        await forbidden(knowledgeOnly.context({ query, include: ["memories"] }), "memories:read");
        await forbidden(neither.context({ query }), "memories:read");
        // By default, what the key may read.
        const types = async (client: typeof memoriesOnly) =>
          [...new Set((await client.context({ query })).items.map((i) => i.type))].sort();
        assert.deepEqual(await types(memoriesOnly), ["memory"]);
        assert.deepEqual(await types(knowledgeOnly), ["knowledge"]);
        assert.deepEqual(await types(t.client), ["knowledge", "memory"]);
      });
    });
  },
  { ENGRAM_INGEST_IN_PROCESS: "on", ENGRAM_INGEST_POLL_INTERVAL_MS: "500" },
);
