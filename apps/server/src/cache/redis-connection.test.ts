import assert from "node:assert/strict";
import { test } from "node:test";
import { createCounters } from "../telemetry/counters.ts";
import { type RunningProcess, startProcess, until } from "../testing/run-process.ts";
import { freePort } from "../testing/test-server.ts";
import { createRedisConnection } from "./redis-connection.ts";

/** A throwaway redis-server of our own on a free port, so this test can stop and restart it. */
function startRedisServer(port: number): Promise<RunningProcess> {
  return startProcess(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {
      what: `redis-server on ${port} (install it with scripts/services.sh)`,
      ready: async () => {
        const probe = createRedisConnection({
          url: `redis://127.0.0.1:${port}`,
          prefix: "probe:",
          counters: createCounters(),
        });
        await probe.connect({ warn() {}, info() {} });
        const up = probe.isReady();
        await probe.close();
        return up;
      },
      timeoutMs: 10_000,
      intervalMs: 50,
    },
  );
}

test("a Redis that goes down and comes back is logged once each way, counted, retried, and never crashes", async () => {
  const port = await freePort();
  let server = await startRedisServer(port);
  const counters = createCounters();
  const warnings: string[] = [];
  const redis = createRedisConnection({
    url: `redis://127.0.0.1:${port}`,
    prefix: "t:",
    counters,
  });
  try {
    await redis.connect({ warn: (_o, msg) => warnings.push(msg), info() {} });
    assert.ok(redis.isReady());
    await redis.ping();

    await server.stop("SIGKILL");
    await until("the connection notices", () => !redis.isReady());
    await assert.rejects(redis.ping());
    // Commands fail at once rather than queueing until Redis returns.
    const started = Date.now();
    await assert.rejects(redis.client.get("t:x"), /enableOfflineQueue|Connection is closed/);
    assert.ok(Date.now() - started < 100);
    redis.failed(new Error("a command failed"));
    await until("several reconnection attempts failed", () => {
      return counters.get("redis_errors_total") >= 3;
    });
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0] ?? "", /unreachable/);

    server = await startRedisServer(port);
    await until("the connection is back", () => redis.isReady(), 20_000);
    await redis.ping();
    assert.equal(warnings.length, 2, warnings.join("\n"));
    assert.match(warnings[1] ?? "", /reachable again/);
  } finally {
    await redis.close();
    await server.stop("SIGKILL");
  }
});

test("connect() to a port where nothing listens returns at once and reports down", async () => {
  const port = await freePort();
  const counters = createCounters();
  const warnings: string[] = [];
  const redis = createRedisConnection({ url: `redis://127.0.0.1:${port}`, prefix: "t:", counters });
  try {
    await redis.connect({ warn: (_o, msg) => warnings.push(msg), info() {} });
    assert.equal(redis.isReady(), false);
    await assert.rejects(redis.ping());
    assert.equal(warnings.length, 1);
    assert.ok(counters.get("redis_errors_total") >= 1);
  } finally {
    await redis.close();
  }
});
