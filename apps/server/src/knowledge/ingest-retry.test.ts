import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { until } from "../testing/run-process.ts";
import { startTestServer, type TestServer } from "../testing/test-server.ts";

// Transient failures come from the embedder: a local stand-in for a hosted OpenAI-compatible
// embedding API (the one part that may be faked), which answers 503 while `down`.
const DIM = 8;
let down = false;
const api = createServer(async (req, res) => {
  let text = "";
  for await (const chunk of req) text += chunk;
  if (down) {
    res
      .writeHead(503, { "content-type": "application/json" })
      .end('{"error":{"message":"overloaded"}}');
    return;
  }
  const { input } = JSON.parse(text) as { input: string[] };
  const data = input.map((t, index) => ({
    object: "embedding",
    index,
    embedding: Array.from({ length: DIM }, (_, i) => ((t.length * 31 + i * 7) % 13) + 1),
  }));
  res
    .writeHead(200, { "content-type": "application/json" })
    .end(JSON.stringify({ object: "list", data }));
});

let srv: TestServer;

describe("ingestion retries, backoff and the dead-letter queue (embedded)", () => {
  before(async () => {
    api.listen(0, "127.0.0.1");
    await once(api, "listening");
    srv = await startTestServer({
      ENGRAM_EMBEDDER: "openai",
      ENGRAM_EMBEDDING_BASE_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}/v1`,
      ENGRAM_EMBEDDING_MODEL: "fake-embed",
      ENGRAM_EMBEDDING_DIMENSION: String(DIM),
      ENGRAM_INGEST_MAX_ATTEMPTS: "3",
      ENGRAM_INGEST_RETRY_DELAY_S: "1",
      ENGRAM_INGEST_POLL_INTERVAL_MS: "500",
    });
  });
  after(async () => {
    await srv.close();
    api.close();
  });

  test("a transient failure is retried with backoff and then completes", async () => {
    const t = await srv.newTenant();
    down = true;
    const { job_id, document_id } = await t.client.knowledge.createDocument({
      filename: "a.txt",
      text: "The embedder is briefly unavailable.",
    });
    await until("a failed attempt", async () => {
      const job = await t.client.knowledge.getJob(job_id);
      return job.attempts >= 1 && /Attempt 1 failed/.test(job.error ?? "");
    });
    down = false;
    const job = await t.client.knowledge.waitForJob(job_id, { timeoutMs: 30_000 });
    assert.equal(job.state, "completed", JSON.stringify(job));
    assert.ok(job.attempts >= 2);
    assert.equal((await t.client.knowledge.getDocument(document_id)).chunk_count, 1);
  });

  test("after the last attempt the job is dead-lettered: listed, nothing indexed, retryable", async () => {
    const t = await srv.newTenant();
    down = true;
    const { job_id, document_id } = await t.client.knowledge.createDocument({
      filename: "b.txt",
      text: "This one keeps failing until the embedder is back.",
    });
    await until(
      "the dead letter",
      async () => (await t.client.knowledge.getJob(job_id)).state === "dead",
    );
    const dead = await t.client.knowledge.getJob(job_id);
    assert.equal(dead.attempts, 3);
    assert.match(dead.error ?? "", /Gave up after 3 attempts; last: Attempt 3 failed/);
    const listed = await t.client.knowledge.listJobs({ state: "dead" });
    assert.deepEqual(
      listed.results.map((j) => j.id),
      [job_id],
    );
    const doc = await t.client.knowledge.getDocument(document_id);
    assert.equal(doc.status, "failed");
    assert.equal(doc.chunk_count, 0);

    down = false;
    const retried = await t.client.knowledge.retryJob(job_id);
    assert.equal(retried.state, "queued");
    const job = await t.client.knowledge.waitForJob(job_id, { timeoutMs: 30_000 });
    assert.equal(job.state, "completed", JSON.stringify(job));
    assert.equal((await t.client.knowledge.getDocument(document_id)).status, "ready");
    assert.equal((await t.client.knowledge.listJobs({ state: "dead" })).results.length, 0);
  });
});
