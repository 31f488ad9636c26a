import assert from "node:assert/strict";
import { after, beforeEach, describe, test } from "node:test";
import type { SearchHit, SearchMemoriesBody } from "@engram/sdk";
import { describeOnBackends } from "../testing/backend-suite.ts";
import { startFakeReranker } from "../testing/fake-reranker.ts";

// Memory and knowledge search with a re-ranker configured, end to end through HTTP: the server
// talks to a local server speaking Cohere's /v2/rerank. The stand-in scores as each test says,
// so the order it gives differs from fusion's and a search that skipped it would fail.

const API_KEY = "rr-route-secret-0123456789abcdef";
const CANDIDATES = 5;
const MODEL = "fake-rerank-1";
const fake = await startFakeReranker({ apiKey: API_KEY });
after(() => fake.close());

const GARDEN = [
  "The garden roses need pruning in March",
  "Water the garden tomatoes every evening",
  "The garden shed key hangs by the door",
  "Compost from the kitchen feeds the garden",
  "The garden hose leaks at the tap",
  "Snails ate the lettuce in the garden",
  "The garden fence was painted green",
  "Bees visit the lavender in the garden",
];
const ids = (hits: readonly { id: string }[]) => hits.map((h) => h.id);

/** Prometheus text: one series' value. */
function sample(metrics: string, name: string): number {
  const line = metrics
    .split("\n")
    .find((l) => l.startsWith(`engram_process_counter{name="${name}"}`));
  return Number(line?.split(" ").at(-1));
}

describeOnBackends(
  "search with a re-ranker",
  (suite) => {
    beforeEach(() => fake.reset());

    /** A tenant with the garden memories for user u. */
    async function gardener() {
      const t = await suite.srv.newTenant();
      await t.client.batchAddMemories({ memories: GARDEN.map((text) => ({ text, user_id: "u" })) });
      const search = (body: Partial<SearchMemoriesBody> = {}) =>
        t.client.searchMemories({ query: "garden", user_id: "u", ...body });
      return { ...t, search };
    }

    /** The stand-in scores each text by its place in `hits`: the last one best. */
    function preferLast(hits: readonly SearchHit[]) {
      const place = new Map(hits.map((h, i) => [h.memory, i]));
      fake.setScorer((_query, text) => place.get(text) ?? -1);
    }

    describe("POST /v1/memories/search", () => {
      test("the best fused hits come back in the re-ranker's order, each with its score", async () => {
        const t = await gardener();
        const fused = await t.search({ limit: 8, rerank: false });
        assert.equal(fused.results.length, 8);
        assert.deepEqual(fused.rerank, { applied: false });
        assert.equal(fake.requests.length, 0, "rerank: false calls nothing");
        for (const h of fused.results) assert.equal(h.scores.rerank, null);

        preferLast(fused.results.slice(0, CANDIDATES));
        const reranked = await t.search({ limit: 8 });
        const head = fused.results.slice(0, CANDIDATES);
        assert.deepEqual(ids(reranked.results), [
          ...ids(head).reverse(),
          ...ids(fused.results.slice(CANDIDATES)),
        ]);
        assert.deepEqual(
          reranked.results.map((h) => h.scores.rerank),
          [4, 3, 2, 1, 0, null, null, null],
        );
        assert.deepEqual(reranked.rerank, { applied: true, model: MODEL });
        // What left the process: the query and the texts of the best CANDIDATES fused hits.
        assert.equal(fake.requests.length, 1);
        const [sent] = fake.requests;
        assert.equal(sent?.query, "garden");
        assert.deepEqual(
          sent?.documents,
          head.map((h) => h.memory),
        );
        assert.equal(sent?.body.model, MODEL);
        assert.equal(sent?.headers.authorization, `Bearer ${API_KEY}`);
        // Fusion's own scores are kept beside the re-ranker's.
        for (const h of reranked.results) {
          const before = fused.results.find((f) => f.id === h.id);
          assert.equal(h.score, before?.score);
          assert.deepEqual({ ...h.scores, rerank: null }, before?.scores);
        }
      });

      test("below the candidates, the re-ranker promotes a hit fusion put past the limit", async () => {
        const t = await gardener();
        const fused = await t.search({ limit: CANDIDATES, rerank: false });
        const deepest = fused.results[CANDIDATES - 1];
        fake.setScorer((_query, text) => (text === deepest?.memory ? 1 : 0));
        const reranked = await t.search({ limit: 2 });
        assert.deepEqual(ids(reranked.results), [deepest?.id, fused.results[0]?.id]);
        assert.deepEqual(
          reranked.results.map((h) => h.scores.rerank),
          [1, 0],
        );
        assert.equal(fake.requests[0]?.documents.length, CANDIDATES);
      });

      test("a failing re-ranker leaves the fused order, answered 200 with the reason", async () => {
        const t = await gardener();
        const fused = ids((await t.search({ limit: 8, rerank: false })).results);
        const cases = [
          { replies: [{ status: 500 }, { status: 503 }], reason: "unavailable", calls: 2 },
          { replies: ["hang" as const], reason: "timeout", calls: 1 },
          {
            replies: [{ body: { results: [{ index: 9, relevance_score: 1 }] } }],
            reason: "invalid_response",
            calls: 1,
          },
          { replies: [{ text: "<html>bad gateway</html>" }], reason: "invalid_response", calls: 1 },
        ];
        for (const { replies, reason, calls } of cases) {
          fake.reset();
          fake.enqueue(...replies);
          const res = await t.search({ limit: 8 });
          assert.deepEqual(ids(res.results), fused, reason);
          assert.deepEqual(res.rerank, { applied: false, model: MODEL, fallback_reason: reason });
          for (const h of res.results) assert.equal(h.scores.rerank, null);
          assert.equal(fake.requests.length, calls, reason);
        }
        const metrics = await (await fetch(`${suite.srv.url}/metrics`)).text();
        assert.ok(sample(metrics, "rerank_calls_total") >= cases.length, metrics);
        assert.ok(sample(metrics, "rerank_timeouts_total") >= 1);
        assert.ok(sample(metrics, "rerank_errors_total") >= 3);
      });

      test("no hits: nothing is sent", async () => {
        const t = await gardener();
        const res = await t.search({ user_id: "nobody" });
        assert.deepEqual(res, { results: [], rerank: { applied: true, model: MODEL } });
        assert.equal(fake.requests.length, 0);
      });

      test("rerank must be a boolean", async () => {
        const t = await gardener();
        const r = await suite.as(t.key, "POST", "/v1/memories/search", {
          query: "garden",
          rerank: "yes",
        });
        assert.equal(r.status, 400, r.text);
        assert.equal(r.body.code, "validation_failed");
        assert.equal(r.body.field, "rerank");
      });
    });

    describe("knowledge search", () => {
      const MARKDOWN = [
        "# Garden guide",
        "## Roses",
        "Prune the garden roses in March, above an outward bud.",
        "## Tomatoes",
        "Garden tomatoes want six hours of sun and water every evening.",
        "## Compost",
        "Kitchen scraps and leaves make compost for the garden beds.",
      ].join("\n\n");

      async function withGuide() {
        const t = await gardener();
        const { job_id } = await t.client.knowledge.createDocument({
          filename: "guide.md",
          text: MARKDOWN,
        });
        const job = await t.client.knowledge.waitForJob(job_id, { timeoutMs: 60_000 });
        assert.equal(job.state, "completed", JSON.stringify(job));
        return t;
      }

      test("chunks are re-ranked with their headings; include: knowledge re-ranks both lists", async () => {
        const t = await withGuide();
        const fused = await t.client.knowledge.searchKnowledge({ query: "garden", rerank: false });
        assert.ok(fused.results.length >= 3, JSON.stringify(fused));
        assert.deepEqual(fused.rerank, { applied: false });
        const texts = fused.results.map((h) => [...h.citation.heading_path, h.text].join("\n"));
        const place = new Map(texts.map((text, i) => [text, i]));
        fake.setScorer((_query, text) => place.get(text) ?? -1);
        const reranked = await t.client.knowledge.searchKnowledge({ query: "garden" });
        assert.deepEqual(ids(reranked.results), ids(fused.results).reverse());
        assert.deepEqual(reranked.rerank, { applied: true, model: MODEL });
        assert.deepEqual(fake.requests[0]?.documents, texts);
        assert.ok(
          texts.every((text) => text.startsWith("Garden guide\n")),
          texts.join(" | "),
        );

        fake.reset();
        const both = await t.search({ include: ["knowledge"], limit: 3 });
        assert.equal(fake.requests.length, 2, "one call per list");
        assert.deepEqual(both.rerank, { applied: true, model: MODEL });
        assert.ok(both.results.every((h) => typeof h.scores.rerank === "number"));
        assert.ok(both.knowledge?.every((h) => typeof h.scores.rerank === "number"));
      });

      test("one list failing: the status says so; the other list keeps its re-ranking", async () => {
        const t = await withGuide();
        // The memories' call is answered; the knowledge call fails twice (retry included).
        fake.enqueue({ delayMs: 0 }, { status: 502 }, { status: 502 });
        const both = await t.search({ include: ["knowledge"], limit: 3 });
        assert.deepEqual(both.rerank, {
          applied: false,
          model: MODEL,
          fallback_reason: "unavailable",
        });
        assert.ok(both.results.every((h) => typeof h.scores.rerank === "number"));
        assert.ok(both.knowledge?.every((h) => h.scores.rerank === null));
        const optOut = await t.search({ include: ["knowledge"], rerank: false });
        assert.deepEqual(optOut.rerank, { applied: false });
        assert.equal(fake.requests.length, 3, "rerank: false reaches knowledge search too");
      });
    });
  },
  fake.env("cohere", {
    ENGRAM_RERANK_CANDIDATES: String(CANDIDATES),
    ENGRAM_RERANK_TIMEOUT_MS: "500",
    ENGRAM_RERANK_MAX_RETRIES: "1",
    ENGRAM_INGEST_IN_PROCESS: "on",
    ENGRAM_INGEST_POLL_INTERVAL_MS: "500",
  }),
);
