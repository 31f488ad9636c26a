import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startFlakyEmbedder } from "../testing/flaky-embedder.ts";
import { until } from "../testing/run-process.ts";
import { startTestServer, type TestServer } from "../testing/test-server.ts";

// Transient failures come from the embedder: a local stand-in that answers 503 while down
// (testing/flaky-embedder.ts).
let embedder: Awaited<ReturnType<typeof startFlakyEmbedder>>;
let srv: TestServer;

describe("ingestion retries, backoff and the dead-letter queue (embedded)", () => {
  before(async () => {
    embedder = await startFlakyEmbedder();
    srv = await startTestServer({
      ...embedder.env,
      ENGRAM_INGEST_MAX_ATTEMPTS: "3",
      ENGRAM_INGEST_RETRY_DELAY_S: "1",
      ENGRAM_INGEST_POLL_INTERVAL_MS: "500",
    });
  });
  after(async () => {
    await srv.close();
    await embedder.close();
  });

  test("a transient failure is retried with backoff and then completes", async () => {
    const t = await srv.newTenant();
    embedder.setDown(true);
    const { job_id, document_id } = await t.client.knowledge.createDocument({
      filename: "a.txt",
      text: "The embedder is briefly unavailable.",
    });
    await until("a failed attempt", async () => {
      const job = await t.client.knowledge.getJob(job_id);
      return job.attempts >= 1 && /Attempt 1 failed/.test(job.error ?? "");
    });
    embedder.setDown(false);
    const job = await t.client.knowledge.waitForJob(job_id, { timeoutMs: 30_000 });
    assert.equal(job.state, "completed", JSON.stringify(job));
    assert.ok(job.attempts >= 2);
    assert.equal((await t.client.knowledge.getDocument(document_id)).chunk_count, 1);
  });

  test("after the last attempt the job is dead-lettered: listed, nothing indexed, retryable", async () => {
    const t = await srv.newTenant();
    embedder.setDown(true);
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

    embedder.setDown(false);
    const retried = await t.client.knowledge.retryJob(job_id);
    assert.equal(retried.state, "queued");
    const job = await t.client.knowledge.waitForJob(job_id, { timeoutMs: 30_000 });
    assert.equal(job.state, "completed", JSON.stringify(job));
    assert.equal((await t.client.knowledge.getDocument(document_id)).status, "ready");
    assert.equal((await t.client.knowledge.listJobs({ state: "dead" })).results.length, 0);
  });
});
