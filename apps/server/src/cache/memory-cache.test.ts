import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, test } from "node:test";
import type { Memory } from "@engram/contract";
import { createCounters } from "../telemetry/counters.ts";
import { until } from "../testing/run-process.ts";
import { createTestRedis, type TestRedis } from "../testing/test-redis.ts";
import { createLocalMemoryCache, type MemoryCache } from "./memory-cache.ts";
import { createRedisConnection, type RedisConnection } from "./redis-connection.ts";
import { createRedisMemoryCache } from "./redis-memory-cache.ts";
import { createRedisVectorCache } from "./redis-vector-cache.ts";

const silent = { warn() {}, info() {} };

function memory(id: string, text: string): Memory {
  return {
    id,
    project_id: "prj_01JD3Z8Q4Y6V2W9X0ABCDEFGHJ",
    memory: text,
    role: null,
    user_id: null,
    agent_id: null,
    session_id: null,
    metadata: {},
    timestamp: null,
    valid_from: "2026-01-01T00:00:00.000Z",
    valid_to: null,
    superseded_by: null,
    categories: [],
    sources: [],
    embedding_model: "m",
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z",
  };
}

/** A row "in the database": loads count, and can be held to interleave a write with a read. */
function row(id: string, text: string) {
  const state = { text, loads: 0, gate: undefined as Promise<void> | undefined };
  return {
    state,
    load: async () => {
      state.loads++;
      const seen = state.text; // read before the gate: the value a slow read would have seen
      await state.gate;
      return memory(id, seen);
    },
    hold() {
      let release = () => {};
      state.gate = new Promise((r) => {
        release = r;
      });
      return () => {
        state.gate = undefined;
        release();
      };
    },
  };
}

/** Cases every implementation must pass; `a` and `b` are two processes (the same for local). */
function sharedCases(make: () => { a: MemoryCache; b: MemoryCache }) {
  test("a read fills the cache; the next read, from any process, is a hit", async () => {
    const { a, b } = make();
    const r = row("mem_1", "first");
    assert.equal((await a.get("ten_1", "mem_1", r.load))?.memory, "first");
    assert.equal((await b.get("ten_1", "mem_1", r.load))?.memory, "first");
    assert.equal(r.state.loads, 1);
  });

  test("never across tenants: the same id in another tenant is loaded from its own rows", async () => {
    const { a, b } = make();
    const mine = row("mem_x", "tenant one");
    const theirs = row("mem_x", "tenant two");
    await a.get("ten_1", "mem_x", mine.load);
    assert.equal((await b.get("ten_2", "mem_x", theirs.load))?.memory, "tenant two");
    assert.equal(theirs.state.loads, 1);
  });

  test("an invalidation in one process is seen by the other's next read", async () => {
    const { a, b } = make();
    const r = row("mem_2", "old");
    await b.get("ten_1", "mem_2", r.load);
    r.state.text = "new";
    await a.invalidate("ten_1", "mem_2");
    assert.equal((await b.get("ten_1", "mem_2", r.load))?.memory, "new");
    assert.equal(r.state.loads, 2);
  });

  test("a read that raced with an update does not leave the old row cached", async () => {
    const { a, b } = make();
    const r = row("mem_3", "old");
    const release = r.hold();
    const slow = b.get("ten_1", "mem_3", r.load); // reads "old", then waits
    await new Promise((res) => setTimeout(res, 20));
    r.state.text = "new"; // the update commits...
    await a.invalidate("ten_1", "mem_3"); // ...and invalidates before answering
    release();
    assert.equal((await slow)?.memory, "old"); // concurrent with the write: either is fine
    assert.equal((await b.get("ten_1", "mem_3", r.load))?.memory, "new");
    assert.equal((await a.get("ten_1", "mem_3", r.load))?.memory, "new");
  });

  test("invalidateTenant drops that tenant's memories only", async () => {
    const { a, b } = make();
    const one = row("mem_4", "one");
    const two = row("mem_5", "two");
    const other = row("mem_4", "other tenant");
    for (const [tenant, r, id] of [
      ["ten_1", one, "mem_4"],
      ["ten_1", two, "mem_5"],
      ["ten_2", other, "mem_4"],
    ] as const) {
      await a.get(tenant, id, r.load);
    }
    await a.invalidateTenant("ten_1");
    await b.get("ten_1", "mem_4", one.load);
    await b.get("ten_1", "mem_5", two.load);
    await b.get("ten_2", "mem_4", other.load);
    assert.deepEqual([one.state.loads, two.state.loads, other.state.loads], [2, 2, 1]);
  });
}

describe("local memory cache (embedded)", () => {
  sharedCases(() => {
    const cache = createLocalMemoryCache({ max: 100, counters: createCounters() });
    return { a: cache, b: cache };
  });
});

describe("Redis memory cache (cluster)", () => {
  let redis: TestRedis;
  const connections: RedisConnection[] = [];
  function connection() {
    const c = createRedisConnection({
      url: redis.url,
      prefix: redis.prefix,
      counters: createCounters(),
    });
    connections.push(c);
    return c;
  }
  let pair: { a: MemoryCache; b: MemoryCache };
  let conns: { a: RedisConnection; b: RedisConnection };

  before(async () => {
    redis = await createTestRedis();
  });
  after(async () => {
    for (const c of connections) await c.close();
    await redis.close();
  });

  // A fresh prefix-sharing pair per case (prefix per run: cases use distinct ids or tenants).
  const make = () => pair;
  test("setup: two processes' caches on one Redis", async () => {
    // As in the composition root: the cache exists before the connection opens.
    conns = { a: connection(), b: connection() };
    pair = {
      a: createRedisMemoryCache({ redis: conns.a, counters: createCounters() }),
      b: createRedisMemoryCache({ redis: conns.b, counters: createCounters() }),
    };
    for (const c of [conns.a, conns.b]) {
      await c.connect(silent);
      assert.ok(c.isReady(), "connected to the test Redis");
    }
    // Each replaces the epoch on connecting; once both have, a fill by one is a hit for the other.
    await until("the cache to settle", async () => {
      const r = row("mem_0", "warm");
      await pair.a.get("ten_0", "mem_0", r.load);
      await pair.b.get("ten_0", "mem_0", r.load);
      return r.state.loads === 1;
    });
  });
  sharedCases(make);

  test("an invalidation made while Redis was unreachable is made good when the process reconnects", async () => {
    const r = row("mem_9", "old");
    await pair.b.get("ten_9", "mem_9", r.load);
    const ended = once(conns.a.client, "end");
    conns.a.client.disconnect(); // process A loses Redis...
    await ended;
    r.state.text = "new"; // ...while it updates the memory
    await pair.a.invalidate("ten_9", "mem_9");
    assert.equal((await pair.b.get("ten_9", "mem_9", r.load))?.memory, "old", "B cannot know yet");
    await conns.a.client.connect(); // back: A replaces the epoch at once
    const deadline = Date.now() + 5_000;
    while ((await pair.b.get("ten_9", "mem_9", r.load))?.memory !== "new") {
      assert.ok(Date.now() < deadline, "B stopped serving the old text");
      await new Promise((res) => setTimeout(res, 10));
    }
    assert.equal((await pair.a.get("ten_9", "mem_9", r.load))?.memory, "new");
  });

  test("with Redis unreachable, reads go to the database and nothing throws", async () => {
    const counters = createCounters();
    const down = createRedisConnection({
      url: "redis://127.0.0.1:1",
      prefix: redis.prefix,
      counters,
    });
    connections.push(down);
    await down.connect(silent);
    const cache = createRedisMemoryCache({ redis: down, counters });
    const r = row("mem_d", "from the database");
    for (let i = 0; i < 3; i++) {
      assert.equal((await cache.get("ten_d", "mem_d", r.load))?.memory, "from the database");
    }
    await cache.invalidate("ten_d", "mem_d");
    await cache.invalidateTenant("ten_d");
    assert.equal(r.state.loads, 3);
    assert.equal(counters.get("memory_cache_hits_total"), 0);
  });

  test("query vectors round-trip through Redis as float32 under a hash of the text", async () => {
    const shared = createRedisVectorCache(conns.a);
    const vector = Float32Array.from([0.25, -1.5, 3.125, 1e-7]);
    await shared.set("model-x", "a private query", vector);
    const other = createRedisVectorCache(conns.b);
    assert.deepEqual(await other.get("model-x", "a private query", 4), vector);
    assert.equal(await other.get("model-y", "a private query", 4), undefined, "keyed by model");
    assert.equal(await other.get("model-x", "a private query", 8), undefined, "wrong dimension");
    assert.equal(await other.get("model-x", "another query", 4), undefined);
    const keys = (await redis.keys()).filter((k) => k.includes(":qv:"));
    assert.equal(keys.length, 1);
    assert.ok(!keys[0]?.includes("private"), "the query text is not in the key");
  });
});
