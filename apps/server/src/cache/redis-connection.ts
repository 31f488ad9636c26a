import { Redis } from "ioredis";
import type { Counters } from "../telemetry/counters.ts";

/** The part of the process logger the connection uses (Fastify's pino logger fits). */
export interface RedisLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Longest wait between two reconnection attempts. */
const MAX_BACKOFF_MS = 5_000;
/** A command Redis does not answer within this is failed, so a hung Redis cannot stall a request. */
const COMMAND_TIMEOUT_MS = 500;
const CONNECT_TIMEOUT_MS = 2_000;

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * One Redis connection per process, shared by the rate limiter and the caches. Every user treats
 * Redis as optional: a failed command falls back (local limiter, model, database) and is reported
 * through `failed`, never thrown to the request.
 */
export function createRedisConnection(opts: { url: string; prefix: string; counters: Counters }) {
  const { counters } = opts;
  let log: RedisLogger = { warn() {}, info() {} };
  let up: boolean | undefined; // unknown until the first connection attempt settles
  let warnedWhileUp = false;
  let closing = false;

  const client = new Redis(opts.url, {
    // Nothing connects at construction (CLI commands build a server without serving); the
    // composition root calls connect() once the logger exists.
    lazyConnect: true,
    // Fail fast instead of queueing while disconnected: every caller has a local fallback, and a
    // queued command would hold a request open until Redis returns.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // Reconnect forever, backing off exponentially up to MAX_BACKOFF_MS.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times - 1, 10), MAX_BACKOFF_MS),
    connectionName: "engram",
  });

  function markDown(err: unknown) {
    if (closing || up === false) return;
    up = false;
    log.warn(
      { err: message(err) },
      "Redis is unreachable: rate limits fall back to this process, caches to the database",
    );
  }

  // Without an 'error' listener, ioredis would re-emit connection errors as unhandled and crash
  // the process. Each failed attempt is counted; the log says it once per state change.
  client.on("error", (err) => {
    counters.inc("redis_errors_total");
    markDown(err);
  });
  client.on("close", () => {
    if (up) markDown(new Error("connection closed"));
  });
  client.on("ready", () => {
    warnedWhileUp = false;
    if (up === false)
      log.warn({}, "Redis is reachable again: shared rate limits and caches resume");
    else log.info({}, "Redis connected");
    up = true;
  });

  return {
    client,
    /** Prepended to every key and channel, so deployments (and test runs) can share one Redis. */
    prefix: opts.prefix,

    /** True while commands can be sent; otherwise callers skip Redis without trying. */
    isReady: () => client.status === "ready",

    /** Connects once, waiting at most the connect timeout; a down Redis is retried in the background. */
    async connect(logger: RedisLogger): Promise<void> {
      log = logger;
      if (client.status !== "wait") return;
      await client.connect().catch(markDown);
    },

    /** Reports a failed command: always counted, logged at most once per state change. */
    failed(err: unknown): void {
      counters.inc("redis_errors_total");
      if (client.status !== "ready") {
        markDown(err);
        return;
      }
      if (warnedWhileUp || closing) return;
      warnedWhileUp = true;
      log.warn({ err: message(err) }, "a Redis command failed; the request fell back");
    },

    /** For /readyz: resolves when Redis answers a PING in time, rejects otherwise. */
    async ping(): Promise<void> {
      if (client.status !== "ready") throw new Error(`Redis is ${client.status}`);
      await client.ping();
    },

    async close(): Promise<void> {
      closing = true;
      if (client.status === "ready") await client.quit().catch(() => {});
      client.disconnect();
    },
  };
}
export type RedisConnection = ReturnType<typeof createRedisConnection>;
