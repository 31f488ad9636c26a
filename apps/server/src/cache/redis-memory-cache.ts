import { randomBytes } from "node:crypto";
import type { Memory } from "@engram/contract";
import type { Counters } from "../telemetry/counters.ts";
import type { MemoryCache } from "./memory-cache.ts";
import type { RedisConnection } from "./redis-connection.ts";

/** How long a cached memory lives: also the bound on staleness after a lost invalidation. */
const MEMORY_TTL_SECONDS = 5 * 60;
/** Generation tokens outlive any value written under them (value TTL + the longest DB read). */
const GENERATION_TTL_SECONDS = 24 * 60 * 60;

const token = () => randomBytes(8).toString("base64url");

/**
 * The hot-memory cache in Redis, shared by every API process (ADR 0009).
 *
 * Invalidation is by generation tokens rather than deleting values: each value is stored with the
 * tokens (global epoch | tenant | memory) read in the same MGET, before the database read that
 * produced it, and is served only while all three are unchanged. An update or delete replaces
 * the memory's token, a bulk delete the tenant's, after its transaction commits and before the
 * response; so once a write is acknowledged, no process serves what it replaced, even from a
 * read that raced with it. The epoch is replaced whenever this process (re)connects or an
 * invalidation fails, covering writes made while Redis could not be told.
 */
export function createRedisMemoryCache(opts: {
  redis: RedisConnection;
  counters: Counters;
}): MemoryCache {
  const { redis, counters } = opts;
  const { client } = redis;
  const p = `${redis.prefix}mem:`;
  const epochKey = `${p}epoch`;
  const tenantKey = (tenantId: string) => `${p}t:${tenantId}`;
  const memoryKey = (tenantId: string, id: string) => `${p}g:${tenantId}:${id}`;
  const valueKey = (tenantId: string, id: string) => `${p}v:${tenantId}:${id}`;

  // Until the epoch has been replaced after the last (re)connect or failed invalidation ("mark"),
  // this process reads past the cache: some write may not have reached Redis.
  let marks = 1;
  let covered = 0; // marks made before the last completed epoch replacement started
  let bumping: { upTo: number; done: Promise<boolean> } | undefined;
  const markStale = () => {
    marks++;
  };
  client.on("ready", () => {
    markStale();
    void usable(); // now, rather than at the next request, so other processes stop serving soon
  });

  /** Replaces the epoch if a mark is not yet covered; false when the cache must not be used now. */
  function usable(): Promise<boolean> | boolean {
    if (!redis.isReady()) return false;
    if (covered === marks) return true;
    if (bumping?.upTo === marks) return bumping.done;
    const upTo = marks;
    // Like every key here it expires: a missing token reads as "-", which no live value carries
    // once its tokens were replaced at least a value TTL ago.
    const done = client.set(epochKey, token(), "EX", GENERATION_TTL_SECONDS).then(
      () => {
        covered = Math.max(covered, upTo);
        return covered === marks;
      },
      (err) => {
        redis.failed(err);
        return false;
      },
    );
    bumping = { upTo, done };
    return done;
  }

  /** Replaces a generation token (and drops a value it outdates, to free its memory now). */
  async function replace(key: string, value?: string) {
    try {
      const tx = client.multi().set(key, token(), "EX", GENERATION_TTL_SECONDS);
      if (value) tx.del(value);
      await tx.exec();
    } catch (err) {
      redis.failed(err);
      markStale();
    }
  }

  return {
    async get(tenantId, id, load) {
      if (!(await usable())) return load();
      let generation: string;
      try {
        const [epoch, tenant, memory, value] = await client.mget(
          epochKey,
          tenantKey(tenantId),
          memoryKey(tenantId, id),
          valueKey(tenantId, id),
        );
        generation = `${epoch ?? "-"}|${tenant ?? "-"}|${memory ?? "-"}`;
        if (value) {
          const cached = JSON.parse(value) as { g: string; m: Memory };
          if (cached.g === generation) {
            counters.inc("memory_cache_hits_total");
            return cached.m;
          }
        }
      } catch (err) {
        redis.failed(err);
        return load();
      }
      counters.inc("memory_cache_misses_total");
      const memory = await load();
      if (memory) {
        await client
          .set(
            valueKey(tenantId, id),
            JSON.stringify({ g: generation, m: memory }),
            "EX",
            MEMORY_TTL_SECONDS,
          )
          .catch((err) => redis.failed(err));
      }
      return memory;
    },

    async invalidate(tenantId, id) {
      // Without a connection the token cannot be replaced: marking the epoch stale makes this
      // process replace it (dropping every cached memory) once Redis is back.
      if (!redis.isReady()) markStale();
      else await replace(memoryKey(tenantId, id), valueKey(tenantId, id));
    },

    async invalidateTenant(tenantId) {
      if (!redis.isReady()) markStale();
      else await replace(tenantKey(tenantId));
    },
  };
}
