import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { killAll } from "../testing/run-process.ts";
import { spawnWorker, startPostgresTestServer } from "../testing/test-server.ts";

// Cluster mode as deployed: the API process only enqueues (ENGRAM_INGEST_IN_PROCESS=off) and an
// `engram worker` child process runs the asynchronous adds from the same PostgreSQL.
const ENV = {
  ENGRAM_INGEST_IN_PROCESS: "off",
  ENGRAM_INGEST_SUPERVISE_INTERVAL_S: "1",
  ENGRAM_INGEST_POLL_INTERVAL_MS: "500",
};
let srv: Awaited<ReturnType<typeof startPostgresTestServer>>;
const workers: Awaited<ReturnType<typeof spawnWorker>>[] = [];

describe("asynchronous adds with an engram worker process (PostgreSQL)", () => {
  before(async () => {
    srv = await startPostgresTestServer(ENV);
  });
  after(async () => {
    await killAll(workers);
    await srv.close();
  });

  test("the API only enqueues; the worker runs the add and the event gives its results", async () => {
    const t = await srv.newTenant();
    const accepted = await t.client.addMemory({
      text: "Keeps bees on the roof",
      user_id: "u1",
      async: true,
    });
    assert.equal(accepted.status, "queued");
    const batch = await t.client.batchAddMemories({
      memories: [{ text: "Grows tomatoes" }, { text: "Bikes to work", agent_id: "a1" }],
      async: true,
    });
    // No process consumes yet: both wait in the queue.
    for (const id of [accepted.event_id, batch.event_id]) {
      const event = await t.client.getEvent(id);
      assert.equal(event.status, "queued");
      assert.equal(event.results, null);
    }
    assert.equal((await t.client.listMemories()).results.length, 0);

    const w = await spawnWorker({ ...ENV, DATABASE_URL: srv.database.appUrl });
    workers.push(w);
    const one = await t.client.waitForEvent(accepted.event_id, { timeoutMs: 120_000 });
    assert.equal(one.status, "succeeded", JSON.stringify(one));
    assert.deepEqual(
      one.results?.map((r) => [r.event, r.memory]),
      [["ADD", "Keeps bees on the roof"]],
    );
    const two = await t.client.waitForEvent(batch.event_id, { timeoutMs: 120_000 });
    assert.equal(two.status, "succeeded", JSON.stringify(two));
    assert.deepEqual(
      two.results?.map((r) => r.memory),
      ["Grows tomatoes", "Bikes to work"],
    );
    const stored = await t.client.getMemory(one.results?.[0]?.id ?? "");
    assert.equal(stored.user_id, "u1");
    // The worker ran them (the API process does not consume in cluster mode).
    const done = w
      .logs()
      .filter((l) => l.msg === "asynchronous add done")
      .map((l) => String(l.eventId));
    assert.deepEqual(done.sort(), [accepted.event_id, batch.event_id].sort());
    // Metered against the tenant like synchronous adds: three memories, three operations.
    const usage = await t.client.getUsage();
    const ops = usage.metrics.find((m) => m.metric === "memory_operations");
    assert.equal(ops?.used, 3);
  });
});
