import assert from "node:assert/strict";
import { after, beforeEach, describe, test } from "node:test";
import { createCounters } from "../telemetry/counters.ts";
import { startFakeReranker } from "../testing/fake-reranker.ts";
import { createReranker, type RerankConfig } from "./reranker.ts";

// The re-ranker client against a local server speaking the three /rerank protocols.

const API_KEY = "rr-test-secret-0123456789abcdef";
const fake = await startFakeReranker({ apiKey: API_KEY });
after(() => fake.close());
beforeEach(() => fake.reset());

const QUERY = "where does alice live";
const DOCS = ["Bob plays chess", "Alice moved to Lisbon", "where does Alice live now"];
/** The fake's default scores: the share of the query's 4 words each document contains. */
const EXPECTED = [0, 0.25, 1];

/** A logger keeping every entry, to check what reaches the logs. */
function recordingLog() {
  const entries: { level: string; obj: object; msg: string }[] = [];
  return {
    entries,
    debug: (obj: object, msg: string) => void entries.push({ level: "debug", obj, msg }),
    warn: (obj: object, msg: string) => void entries.push({ level: "warn", obj, msg }),
  };
}

function client(protocol: RerankConfig["protocol"], over: Partial<RerankConfig> = {}) {
  const log = recordingLog();
  const counters = createCounters();
  const reranker = createReranker(
    {
      url: fake.urls[protocol],
      protocol,
      model: protocol === "tei" ? undefined : "fake-rerank-1",
      apiKey: API_KEY,
      timeoutMs: 1_000,
      maxRetries: 1,
      candidates: 30,
      ...over,
    },
    { log, counters, maxBackoffMs: 20 },
  );
  return { reranker, log, counters };
}

describe("re-ranker client", () => {
  test("Cohere: {model, query, documents, top_n} with a bearer key; scores in the documents' order", async () => {
    const { reranker, counters } = client("cohere");
    const result = await reranker.score(QUERY, DOCS);
    assert.deepEqual(result, { ok: true, scores: EXPECTED });
    const [sent] = fake.requests;
    assert.equal(sent?.protocol, "cohere");
    assert.deepEqual(sent?.body, {
      model: "fake-rerank-1",
      query: QUERY,
      documents: DOCS,
      top_n: 3,
    });
    assert.equal(sent?.headers.authorization, `Bearer ${API_KEY}`);
    assert.equal(counters.get("rerank_calls_total"), 1);
    assert.equal(counters.get("rerank_errors_total"), 0);
  });

  test("Jina: the same, without the documents sent back", async () => {
    const result = await client("jina").reranker.score(QUERY, DOCS);
    assert.deepEqual(result, { ok: true, scores: EXPECTED });
    assert.deepEqual(fake.requests[0]?.body, {
      model: "fake-rerank-1",
      query: QUERY,
      documents: DOCS,
      top_n: 3,
      return_documents: false,
    });
  });

  test("TEI: {query, texts, truncate} and an array answer; no model is sent", async () => {
    const result = await client("tei").reranker.score(QUERY, DOCS);
    assert.deepEqual(result, { ok: true, scores: EXPECTED });
    assert.deepEqual(fake.requests[0]?.body, { query: QUERY, texts: DOCS, truncate: true });
    assert.equal(fake.requests[0]?.headers.authorization, `Bearer ${API_KEY}`);
  });

  test("429 with Retry-After and 503 are retried within the budget", async () => {
    fake.enqueue({ status: 429, headers: { "retry-after": "0" } });
    const { reranker } = client("cohere");
    assert.deepEqual(await reranker.score(QUERY, DOCS), { ok: true, scores: EXPECTED });
    assert.equal(fake.requests.length, 2);
    fake.reset();
    fake.enqueue({ status: 503 }, { status: 503 });
    assert.deepEqual(await reranker.score(QUERY, DOCS), { ok: false, reason: "unavailable" });
    assert.equal(fake.requests.length, 2, "one retry (maxRetries 1), then the fused order");
  });

  test("a client error is not retried", async () => {
    fake.enqueue({ status: 400, body: { message: "bad request" } });
    const { reranker, counters } = client("cohere", { maxRetries: 3 });
    assert.deepEqual(await reranker.score(QUERY, DOCS), { ok: false, reason: "unavailable" });
    assert.equal(fake.requests.length, 1);
    assert.equal(counters.get("rerank_errors_total"), 1);
  });

  test("a server that does not answer in time is a timeout, within about the budget", async () => {
    fake.enqueue("hang");
    const { reranker, counters, log } = client("cohere", { timeoutMs: 200, maxRetries: 3 });
    const started = performance.now();
    assert.deepEqual(await reranker.score(QUERY, DOCS), { ok: false, reason: "timeout" });
    const took = performance.now() - started;
    assert.ok(took >= 190 && took < 1_000, `${took} ms`);
    assert.equal(fake.requests.length, 1, "a timeout spends the budget: no retry");
    assert.equal(counters.get("rerank_timeouts_total"), 1);
    assert.equal(counters.get("rerank_errors_total"), 0);
    assert.equal(log.entries.at(-1)?.level, "warn");
  });

  test("a slow answer within the budget is used", async () => {
    fake.enqueue({ delayMs: 50 });
    const { reranker } = client("tei", { timeoutMs: 1_000 });
    assert.deepEqual(await reranker.score(QUERY, DOCS), { ok: true, scores: EXPECTED });
  });

  test("answers that do not validate are invalid_response, and not retried", async () => {
    const cohere = (results: unknown) => ({ body: { results } });
    const malformed = [
      { text: "not json" },
      { body: { data: [] } },
      cohere([
        { index: 0, relevance_score: 0.1 },
        { index: 1, relevance_score: 0.2 },
      ]),
      cohere([
        { index: 0, relevance_score: 0.1 },
        { index: 1, relevance_score: 0.2 },
        { index: 3, relevance_score: 0.3 },
      ]),
      cohere([
        { index: 0, relevance_score: 0.1 },
        { index: 1, relevance_score: 0.2 },
        { index: 1, relevance_score: 0.3 },
      ]),
      cohere([
        { index: 0, relevance_score: 0.1 },
        { index: 1.5, relevance_score: 0.2 },
        { index: 2, relevance_score: 0.3 },
      ]),
      cohere([
        { index: 0, relevance_score: "0.1" },
        { index: 1, relevance_score: 0.2 },
        { index: 2, relevance_score: 0.3 },
      ]),
      // JSON has no Infinity, but 1e999 parses to it.
      {
        text: '{"results":[{"index":0,"relevance_score":1e999},{"index":1,"relevance_score":0},{"index":2,"relevance_score":0}]}',
      },
    ];
    const { reranker, counters } = client("cohere", { maxRetries: 2 });
    for (const reply of malformed) {
      fake.reset();
      fake.enqueue(reply);
      const result = await reranker.score(QUERY, DOCS);
      assert.deepEqual(result, { ok: false, reason: "invalid_response" }, JSON.stringify(reply));
      assert.equal(fake.requests.length, 1);
    }
    assert.equal(counters.get("rerank_errors_total"), malformed.length);
    fake.enqueue({ body: { results: [{ index: 0, score: 1 }] } });
    const tei = await client("tei").reranker.score(QUERY, DOCS);
    assert.deepEqual(
      tei,
      { ok: false, reason: "invalid_response" },
      "an object is not TEI's array",
    );
  });

  test("an unreachable server is unavailable", async () => {
    const { reranker } = client("cohere", { url: "http://127.0.0.1:1/v2/rerank", maxRetries: 0 });
    assert.deepEqual(await reranker.score(QUERY, DOCS), { ok: false, reason: "unavailable" });
  });

  test("the API key reaches no log entry, even when the server echoes it", async () => {
    const wrongKey = "rr-wrong-key-9876543210fedcba";
    const { reranker, log } = client("cohere", { apiKey: wrongKey, maxRetries: 0 });
    assert.deepEqual(await reranker.score(QUERY, DOCS), { ok: false, reason: "unavailable" });
    const everything = JSON.stringify(log.entries);
    assert.match(everything, /HTTP 401 .*\[redacted\]/, "the server's message is kept, redacted");
    assert.ok(!everything.includes(wrongKey), everything);
    assert.ok(!everything.includes(fake.urls.cohere), "the URL is not logged");
    const ok = client("cohere");
    await ok.reranker.score(QUERY, DOCS);
    assert.ok(!JSON.stringify(ok.log.entries).includes(API_KEY));
    assert.equal(ok.log.entries[0]?.msg, "rerank call");
  });
});
