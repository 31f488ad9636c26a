import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EngramClient } from "@engram/sdk";
import { createTestRedis, type TestRedis } from "../testing/test-redis.ts";
import {
  startPostgresTestServer,
  startTestServer,
  type TenantHandle,
  type TestServer,
} from "../testing/test-server.ts";

// Two API servers on one PostgreSQL database and one Redis, as two processes of a cluster would
// be: what one writes, the other must never serve stale from the shared caches.
describe("shared caches across two servers (PostgreSQL + Redis)", () => {
  let redis: TestRedis;
  let a: TestServer & { database: { appUrl: string } };
  let b: TestServer;
  let viaA: TenantHandle;
  let viaB: EngramClient;

  before(async () => {
    redis = await createTestRedis();
    a = await startPostgresTestServer(redis.env);
    b = await startTestServer({ ...redis.env, DATABASE_URL: a.database.appUrl });
    viaA = await a.newTenant();
    viaB = new EngramClient({ baseUrl: b.url, token: viaA.key });
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await redis?.close();
  });

  const hits = (s: TestServer) => s.server.counters.get("memory_cache_hits_total");

  test("get → update → get and delete → 404, with the update on A and the reads on B", async () => {
    const [added] = (await viaA.client.addMemory({ text: "Ada drinks tea", user_id: "ada" }))
      .results;
    const id = added?.id as string;
    assert.equal((await viaB.getMemory(id)).memory, "Ada drinks tea");
    const before = hits(b);
    assert.equal((await viaB.getMemory(id)).memory, "Ada drinks tea");
    assert.equal(hits(b), before + 1, "the second read is served from the cache");

    await viaA.client.updateMemory(id, { text: "Ada drinks coffee" });
    assert.equal((await viaB.getMemory(id)).memory, "Ada drinks coffee");
    assert.equal((await viaA.client.getMemory(id)).memory, "Ada drinks coffee");
    await viaA.client.updateMemory(id, { metadata: { cups: 2 } });
    assert.deepEqual((await viaB.getMemory(id)).metadata, { cups: 2 });

    await viaA.client.deleteMemory(id);
    await assert.rejects(viaB.getMemory(id), (err: { status?: number }) => err.status === 404);
    await assert.rejects(
      viaA.client.getMemory(id),
      (err: { status?: number }) => err.status === 404,
    );
  });

  test("a bulk delete by scope on A is seen by reads on B", async () => {
    const { results } = await viaA.client.batchAddMemories({
      memories: [
        { text: "Bob owns a red bike", user_id: "bob" },
        { text: "Bob lives in Lyon", user_id: "bob" },
        { text: "Cy likes chess", user_id: "cy" },
      ],
    });
    const ids = results.map((r) => r.id);
    for (const id of ids) await viaB.getMemory(id);
    for (const id of ids) await viaB.getMemory(id); // all cached on B now
    assert.equal((await viaA.client.deleteMemories({ user_id: "bob" })).deleted, 2);
    for (const id of ids.slice(0, 2)) {
      await assert.rejects(viaB.getMemory(id), (err: { status?: number }) => err.status === 404);
    }
    assert.equal((await viaB.getMemory(ids[2] as string)).memory, "Cy likes chess");
  });

  test("another tenant's key never reads a cached memory", async () => {
    const [added] = (await viaA.client.addMemory({ text: "Dee's secret plan" })).results;
    const id = added?.id as string;
    await viaB.getMemory(id);
    await viaB.getMemory(id); // cached
    const stranger = await b.newTenant();
    await assert.rejects(
      stranger.client.getMemory(id),
      (err: { status?: number }) => err.status === 404,
    );
  });

  test("a search query embedded on A is a local hit on A and a shared hit on B", async () => {
    const query = `what does Ada drink ${Date.now()}`;
    const count = (s: TestServer) => s.server.counters.snapshot();
    const a0 = count(a);
    const b0 = count(b);
    await viaA.client.searchMemories({ query });
    await viaA.client.searchMemories({ query });
    await viaB.searchMemories({ query });
    const a1 = count(a);
    const b1 = count(b);
    assert.equal(a1.query_cache_misses_total - a0.query_cache_misses_total, 1);
    assert.equal(a1.query_cache_hits_total - a0.query_cache_hits_total, 1);
    assert.equal(b1.query_cache_shared_hits_total - b0.query_cache_shared_hits_total, 1);
    assert.equal(
      b1.query_cache_misses_total - b0.query_cache_misses_total,
      0,
      "B never embedded it",
    );
  });

  test("/readyz reports Redis ok", async () => {
    for (const s of [a, b]) {
      const res = await fetch(`${s.url}/readyz`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {
        status: "ok",
        checks: { database: "ok", redis: "ok" },
      });
      assert.equal(s.server.counters.get("redis_errors_total"), 0);
    }
  });
});
