import type { Memory } from "@engram/contract";
import { LRUCache } from "lru-cache";
import type { Counters } from "../telemetry/counters.ts";

/**
 * The hot-memory cache behind GET /v1/memories/{id}, keyed by tenant and memory id (never shared
 * across tenants). Implementations never throw for their own failures: they fall back to `load`.
 * Values are shared between callers: treat them as read-only.
 */
export interface MemoryCache {
  /** The memory from the cache, else from `load` (the database), which then fills the cache. */
  get(
    tenantId: string,
    id: string,
    load: () => Promise<Memory | undefined>,
  ): Promise<Memory | undefined>;
  /** Call after an update or delete of one memory has committed, before answering. */
  invalidate(tenantId: string, id: string): Promise<void>;
  /** Call after a bulk change to a tenant's memories (delete by scope) has committed. */
  invalidateTenant(tenantId: string): Promise<void>;
}

/** No caching: every read goes to the database (ENGRAM_MEMORY_CACHE_SIZE=0). */
export const noMemoryCache: MemoryCache = {
  get: (_tenantId, _id, load) => load(),
  invalidate: async () => {},
  invalidateTenant: async () => {},
};

// NUL cannot occur in a tenant id, so one tenant's keys never collide with another's.
const keyOf = (tenantId: string, id: string) => `${tenantId}\u0000${id}`;

/**
 * In-process LRU, for embedded mode (one process, so invalidation here is complete). Never used
 * with Redis configured: other processes could not invalidate it (ADR 0009).
 */
export function createLocalMemoryCache(opts: { max: number; counters: Counters }): MemoryCache {
  const lru = new LRUCache<string, Memory>({ max: opts.max });
  // Bumped by every invalidation. A read that overlapped one may have loaded the old row, so its
  // result is returned but not cached (otherwise it could outlive the invalidation).
  let writes = 0;

  return {
    async get(tenantId, id, load) {
      const hit = lru.get(keyOf(tenantId, id));
      if (hit) {
        opts.counters.inc("memory_cache_hits_total");
        return hit;
      }
      opts.counters.inc("memory_cache_misses_total");
      const seen = writes;
      const memory = await load();
      if (memory && writes === seen) lru.set(keyOf(tenantId, id), memory);
      return memory;
    },
    async invalidate(tenantId, id) {
      writes++;
      lru.delete(keyOf(tenantId, id));
    },
    async invalidateTenant(tenantId) {
      writes++;
      const prefix = keyOf(tenantId, "");
      const doomed = [...lru.keys()].filter((k) => k.startsWith(prefix));
      for (const key of doomed) lru.delete(key);
    },
  };
}
