import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { until } from "../testing/run-process.ts";
import { startTestServer, type TestServer } from "../testing/test-server.ts";

// Transient failures of an asynchronous add come from the embedder: a local stand-in for a hosted
// OpenAI-compatible embedding API (the one part that may be faked), answering 503 while `down`.
const DIM = 8;
let down = false;
/** Texts the stand-in refused, in order. */
const refused: string[] = [];
const api = createServer(async (req, res) => {
  let text = "";
  for await (const chunk of req) text += chunk;
  const { input } = JSON.parse(text) as { input: string[] };
  if (down) {
    refused.push(...input);
    res
      .writeHead(503, { "content-type": "application/json" })
      .end('{"error":{"message":"overloaded"}}');
    return;
  }
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

describe("asynchronous adds: retries and giving up (embedded)", () => {
  before(async () => {
    api.listen(0, "127.0.0.1");
    await once(api, "listening");
    srv = await startTestServer({
      ENGRAM_EMBEDDER: "openai",
      ENGRAM_EMBEDDING_BASE_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}/v1`,
      ENGRAM_EMBEDDING_MODEL: "fake-embed",
      ENGRAM_EMBEDDING_DIMENSION: String(DIM),
      ENGRAM_INGEST_MAX_ATTEMPTS: "2",
      ENGRAM_INGEST_RETRY_DELAY_S: "1",
      ENGRAM_INGEST_POLL_INTERVAL_MS: "500",
    });
  });
  after(async () => {
    await srv.close();
    api.close();
  });

  test("a transient failure is retried, then the add succeeds once", async () => {
    const t = await srv.newTenant();
    down = true;
    const text = "The embedder is briefly unavailable";
    const { event_id } = await t.client.addMemory({ text, async: true });
    await until("a refused attempt", () => refused.includes(text));
    down = false;
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
    down = true;
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
      down = false;
    }
    assert.equal((await t.client.listMemories()).results.length, 0);
  });
});
