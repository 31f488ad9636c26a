import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startFlakyEmbedder } from "../testing/flaky-embedder.ts";
import { until } from "../testing/run-process.ts";
import { startTestServer, type TestServer } from "../testing/test-server.ts";

// Transient failures come from the embedder: a local stand-in that answers 503 while down
// (testing/flaky-embedder.ts).
let embedder: Awaited<ReturnType<typeof startFlakyEmbedder>>;
let srv: TestServer;

describe("asynchronous adds: retries and giving up (embedded)", () => {
  before(async () => {
    embedder = await startFlakyEmbedder();
    srv = await startTestServer({
      ...embedder.env,
      ENGRAM_INGEST_MAX_ATTEMPTS: "2",
      ENGRAM_INGEST_RETRY_DELAY_S: "1",
      ENGRAM_INGEST_POLL_INTERVAL_MS: "500",
    });
  });
  after(async () => {
    await srv.close();
    await embedder.close();
  });

  test("a transient failure is retried, then the add succeeds once", async () => {
    const t = await srv.newTenant();
    embedder.setDown(true);
    const text = "The embedder is briefly unavailable";
    const { event_id } = await t.client.addMemory({ text, async: true });
    await until("a refused attempt", () => embedder.refused.includes(text));
    embedder.setDown(false);
    const event = await t.client.waitForEvent(event_id, { timeoutMs: 60_000 });
    assert.equal(event.status, "succeeded", JSON.stringify(event));
    assert.deepEqual(
      event.results?.map((r) => [r.event, r.memory]),
      [["ADD", text]],
    );
    assert.equal((await t.client.listMemories()).results.length, 1);
  });

  test("after the last attempt the event fails with internal_error; nothing is stored", async () => {
    const t = await srv.newTenant();
    embedder.setDown(true);
    try {
      const { event_id } = await t.client.batchAddMemories({
        memories: [{ text: "Never embedded" }],
        async: true,
      });
      const event = await t.client.waitForEvent(event_id, { timeoutMs: 90_000 });
      assert.equal(event.status, "failed", JSON.stringify(event));
      assert.equal(event.error?.code, "internal_error");
      assert.match(event.error?.detail ?? "", /after 2 attempts/);
      // What went wrong inside stays in the logs: the detail names no host or upstream message.
      assert.doesNotMatch(event.error?.detail ?? "", /overloaded|127\.0\.0\.1/);
      assert.equal(event.results, null);
    } finally {
      embedder.setDown(false);
    }
    assert.equal((await t.client.listMemories()).results.length, 0);
  });
});
