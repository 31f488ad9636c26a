import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { SearchHit } from "@engram/sdk";
import { add, MEM_ID } from "../testing/memory-fixtures.ts";
import {
  describeOnBackends,
  expectInvalidJson,
  expectProblem,
  expectUnauthenticated,
  ids,
  isIso,
  keyWith,
  sorted,
  tenant,
} from "../testing/route-suite.ts";

// Memory search: POST /v1/memories/search.
// The same tests on each database backend (testing/route-suite.ts).

/** Unrelated facts, each with a paraphrased question sharing (almost) no words with it. */
const FACTS = [
  { text: "Alice is allergic to peanuts and carries an EpiPen", ask: "Which nuts make her sick?" },
  {
    text: "Maria is learning to play the violin",
    ask: "which musical instrument is she studying",
  },
  { text: "Bob's favourite football team is Arsenal", ask: "what sport does he follow" },
  { text: "The server room thermostat is set to 18 degrees", ask: "how warm is the computer room" },
  { text: "My car needs an oil change", ask: "vehicle maintenance that is overdue" },
];

describeOnBackends("memory routes", () => {
  describe("POST /v1/memories/search", () => {
    test("a paraphrased question ranks the related memory first", async () => {
      const t = await tenant();
      const { results } = await t.client.batchAddMemories({
        memories: FACTS.map((f) => ({ text: f.text, user_id: "u1" })),
      });
      for (const [i, fact] of FACTS.entries()) {
        const hits = (await t.client.searchMemories({ query: fact.ask, user_id: "u1", limit: 5 }))
          .results;
        assert.equal(hits[0]?.id, results[i]?.id, `"${fact.ask}" → ${hits[0]?.memory}`);
        assert.equal(hits.length, 5);
      }
    });

    test("hits carry the memory, a fused score and per-side scores, best first", async () => {
      const t = await tenant();
      await t.client.batchAddMemories({
        memories: [
          ...FACTS.map((f) => ({ text: f.text, user_id: "u1" })),
          {
            text: "The wifi password is zebra42",
            user_id: "u1",
            agent_id: "a1",
            session_id: "s1",
            metadata: { kind: "secret" },
            timestamp: "2024-01-02T03:04:05.000Z",
          },
        ],
      });
      const hits = (await t.client.searchMemories({ query: "zebra42", user_id: "u1" })).results;
      const [top] = hits;
      assert.ok(top);
      assert.equal(top.memory, "The wifi password is zebra42");
      assert.deepEqual([top.user_id, top.agent_id, top.session_id], ["u1", "a1", "s1"]);
      assert.deepEqual(top.metadata, { kind: "secret" });
      assert.equal(top.timestamp, "2024-01-02T03:04:05.000Z");
      assert.ok(isIso(top.created_at) && isIso(top.updated_at));
      assert.ok(typeof top.scores.keyword === "number" && top.scores.keyword > 0);
      assert.ok(typeof top.scores.vector === "number");
      // Only the memory containing the word has a keyword score.
      for (const h of hits.slice(1)) assert.equal(h.scores.keyword, null, h.memory);
      for (const h of hits) {
        assert.match(h.id, MEM_ID);
        assert.ok(h.score > 0 && h.score <= 1 + 1e-9, String(h.score));
        assert.ok(h.scores.vector !== null && h.scores.vector >= -1 && h.scores.vector <= 1 + 1e-6);
      }
      const scores = hits.map((h) => h.score);
      assert.deepEqual(
        scores,
        [...scores].sort((a, b) => b - a),
      );
    });

    test("scope ids filter results (user, agent, session and combinations)", async () => {
      const t = await tenant();
      const text = "Prefers window seats on flights";
      const scopes = [
        { user_id: "u1" },
        { user_id: "u1", agent_id: "a1" },
        { user_id: "u1", agent_id: "a1", session_id: "s1" },
        { user_id: "u2", agent_id: "a1", session_id: "s2" },
        { agent_id: "a2" },
      ];
      const { results } = await t.client.batchAddMemories({
        memories: scopes.map((s) => ({ text, ...s })),
      });
      const id = (i: number) => results[i]?.id ?? "";
      const found = async (scope: object) =>
        sorted(
          ids((await t.client.searchMemories({ query: "seat preference", ...scope })).results),
        );
      assert.deepEqual(await found({}), sorted([0, 1, 2, 3, 4].map(id)));
      assert.deepEqual(await found({ user_id: "u1" }), sorted([0, 1, 2].map(id)));
      assert.deepEqual(await found({ agent_id: "a1" }), sorted([1, 2, 3].map(id)));
      assert.deepEqual(await found({ session_id: "s2" }), [id(3)]);
      assert.deepEqual(await found({ user_id: "u1", agent_id: "a1" }), sorted([1, 2].map(id)));
      assert.deepEqual(await found({ user_id: "u2", session_id: "s1" }), []);
      assert.deepEqual(await found({ user_id: "nobody" }), []);
    });

    test("metadata filters: eq, ne, gt/lt, in, nin, contains, and/or/not", async () => {
      const t = await tenant();
      const items = {
        pie: { kind: "fruit", price: 5, tags: ["red", "sweet"], name: "Apple pie" },
        bread: { kind: "fruit", price: 12, tags: ["yellow"], name: "Banana bread" },
        salad: { kind: "veg", price: 3, tags: ["green"], name: "Kale salad" },
        risotto: { kind: "veg", price: 20, name: "Truffle risotto" },
        water: {},
      };
      const { results } = await t.client.batchAddMemories({
        memories: Object.entries(items).map(([k, metadata]) => ({
          text: `Recipe card: ${k}`,
          metadata,
        })),
      });
      const idOf = Object.fromEntries(Object.keys(items).map((k, i) => [k, results[i]?.id ?? ""]));
      const cases: [Record<string, unknown>, (keyof typeof items)[]][] = [
        [{ kind: "fruit" }, ["pie", "bread"]],
        [{ kind: { eq: "veg" } }, ["salad", "risotto"]],
        [{ kind: { ne: "fruit" } }, ["salad", "risotto", "water"]],
        [{ price: { gt: 4, lt: 15 } }, ["pie", "bread"]],
        [{ price: { gte: 12 } }, ["bread", "risotto"]],
        [{ price: { lte: 3 } }, ["salad"]],
        [{ kind: { in: ["veg", "mineral"] } }, ["salad", "risotto"]],
        [{ kind: { nin: ["fruit"] } }, ["salad", "risotto", "water"]],
        [{ tags: { contains: "yellow" } }, ["bread"]],
        [{ name: { contains: "BREAD" } }, ["bread"]],
        [{ or: [{ kind: "veg" }, { price: { gte: 12 } }] }, ["bread", "salad", "risotto"]],
        [{ and: [{ kind: "fruit" }, { not: { tags: { contains: "red" } } }] }, ["bread"]],
        [{ not: { kind: { in: ["fruit", "veg"] } } }, ["water"]],
        [{ kind: "fruit", price: { lt: 10 } }, ["pie"]],
        [{ kind: "mineral" }, []],
      ];
      for (const [filters, expected] of cases) {
        const hits = (await t.client.searchMemories({ query: "recipe", filters, limit: 100 }))
          .results;
        assert.deepEqual(
          sorted(ids(hits)),
          sorted(expected.map((k) => idOf[k] ?? "")),
          JSON.stringify(filters),
        );
      }
    });

    test("threshold drops results below that cosine similarity", async () => {
      const t = await tenant();
      const { results } = await t.client.batchAddMemories({
        memories: FACTS.map((f) => ({ text: f.text })),
      });
      const exact = await t.client.searchMemories({
        query: FACTS[0]?.text ?? "",
        threshold: 0.9,
      });
      assert.deepEqual(ids(exact.results), [results[0]?.id]);
      const loose = await t.client.searchMemories({ query: FACTS[0]?.text ?? "", threshold: -1 });
      assert.equal(loose.results.length, FACTS.length);
      const none = await t.client.searchMemories({
        query: "quantum chromodynamics",
        threshold: 0.95,
      });
      assert.deepEqual(none.results, []);
      const some = await t.client.searchMemories({ query: "music lessons", threshold: 0.2 });
      for (const h of some.results) assert.ok((h.scores.vector ?? -2) >= 0.2, h.memory);
    });

    test("limit is respected; the default is 10", async () => {
      const t = await tenant();
      await t.client.batchAddMemories({
        memories: Array.from({ length: 12 }, (_, i) => ({
          text: `Reminder number ${i}: water the plants`,
        })),
      });
      assert.equal(
        (await t.client.searchMemories({ query: "plants", limit: 3 })).results.length,
        3,
      );
      assert.equal((await t.client.searchMemories({ query: "plants" })).results.length, 10);
      assert.equal(
        (await t.client.searchMemories({ query: "plants", limit: 100 })).results.length,
        12,
      );
    });

    test("queries full of tsquery syntax or SQL are searched as plain text", async () => {
      const t = await tenant();
      const id = await add(t, "Cats & dogs: friends (mostly)!");
      for (const query of [
        "cats & dogs",
        "!(a | b) <-> c:* 'x'",
        "' OR 1=1 --",
        "\\",
        "&|!():*<>",
        "日本語",
      ]) {
        const { results } = await t.client.searchMemories({ query });
        assert.deepEqual(ids(results), [id], query);
      }
    });

    test("keyword mode with no matching word is an empty result, never a 500", async () => {
      const t = await tenant();
      const search = (body: Parameters<typeof t.client.searchMemories>[0]) =>
        t.client.searchMemories(body);
      assert.deepEqual(await search({ query: "qqqzzz", mode: "keyword" }), { results: [] });
      await add(t, "Dana waters the ferns on Sundays", { user_id: "dana" });
      for (const query of ["qqqzzz", "the", "???"]) {
        assert.deepEqual((await search({ query, mode: "keyword" })).results, [], query);
        assert.deepEqual(
          (await search({ query, mode: "keyword", user_id: "dana", filters: { k: 1 } })).results,
          [],
          query,
        );
      }
      const both = await search({ query: "qqqzzz", mode: "keyword", include: ["knowledge"] });
      assert.deepEqual(both.results, []);
      assert.deepEqual(both.knowledge, []);
      assert.equal((await search({ query: "ferns", mode: "keyword" })).results.length, 1);
    });

    test("errors: malformed JSON is 400 invalid_json", async () => {
      await expectInvalidJson(await tenant(), "POST", "/v1/memories/search");
    });

    test("errors: query, limit, threshold and unknown fields", async () => {
      const { client } = await tenant();
      const bad = (body: unknown) =>
        client.searchMemories(body as Parameters<typeof client.searchMemories>[0]);
      await expectProblem(bad({ query: "" }), 400, "validation_failed", "query");
      await expectProblem(bad({}), 400, "validation_failed", "query");
      await expectProblem(bad({ query: "q".repeat(4_097) }), 400, "validation_failed", "query");
      await expectProblem(bad({ query: "q", limit: 0 }), 400, "validation_failed", "limit");
      await expectProblem(bad({ query: "q", limit: 101 }), 400, "validation_failed", "limit");
      await expectProblem(bad({ query: "q", limit: 2.5 }), 400, "validation_failed", "limit");
      await expectProblem(bad({ query: "q", limit: "5" }), 400, "validation_failed", "limit");
      await expectProblem(bad({ query: "q", threshold: 2 }), 400, "validation_failed", "threshold");
      await expectProblem(bad({ query: "q", sort: "new" }), 400, "validation_failed", "sort");
      await expectProblem(
        bad({ query: "q", user_id: "u\u0000" }),
        400,
        "validation_failed",
        "user_id",
      );
    });

    test("errors: a bad filter is 400 invalid_filter naming its path", async () => {
      const { client } = await tenant();
      const filtered = (filters: Record<string, unknown>) =>
        client.searchMemories({ query: "q", filters });
      await expectProblem(
        filtered({ price: { between: [1, 2] } }),
        400,
        "invalid_filter",
        "filters.price.between",
      );
      await expectProblem(
        filtered({ or: [{ kind: "a" }, { kind: { regex: ".*" } }] }),
        400,
        "invalid_filter",
        "filters.or[1].kind.regex",
      );
      await expectProblem(
        filtered({ kind: { in: "fruit" } }),
        400,
        "invalid_filter",
        "filters.kind.in",
      );
      await expectProblem(
        filtered({ price: { gt: true } }),
        400,
        "invalid_filter",
        "filters.price.gt",
      );
      await expectProblem(filtered({ and: [] }), 400, "invalid_filter", "filters.and");
      await expectProblem(filtered({}), 400, "invalid_filter", "filters");
    });

    test("security: no key 401; a write-only key cannot search (403); a read-only key can", async () => {
      await expectUnauthenticated("POST", "/v1/memories/search", { query: "x" });
      const t = await tenant();
      const id = await add(t, "Owns a red bicycle");
      const writer = await keyWith(t, ["memories:write"]);
      await expectProblem(writer.searchMemories({ query: "bicycle" }), 403, "forbidden");
      const reader = await keyWith(t, ["memories:read"]);
      assert.deepEqual(ids((await reader.searchMemories({ query: "bicycle" })).results), [id]);
    });

    test("security: another tenant's memories never appear", async () => {
      const a = await tenant();
      const b = await tenant();
      const mine = await add(a, "Keeps the spare key under the mat", { user_id: "shared" });
      await add(b, "Keeps the spare key under the mat", { user_id: "shared" });
      await add(b, "The spare key is under the flower pot", { user_id: "shared" });
      for (const scope of [{}, { user_id: "shared" }]) {
        const hits: SearchHit[] = (
          await a.client.searchMemories({ query: "spare key", limit: 100, ...scope })
        ).results;
        assert.deepEqual(ids(hits), [mine]);
      }
    });
  });
});
