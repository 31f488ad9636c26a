import { LRUCache } from "lru-cache";
import type { AuthRow } from "./key-store.ts";

/** Most keys an embedded server remembers, and for how long at most (ADR 0041). */
const MAX_KEYS = 10_000;
const TTL_MS = 60_000;

/**
 * API-key lookups remembered by an embedded server, the one process that can write its database
 * (ADR 0041). Every write that can change what a key authenticates as (a revocation, a tenant's
 * plan, overrides, suspension or deletion) calls `changed()` once it has committed, so the next
 * request reads the database again: revocation is as immediate as without the cache.
 *
 * A lookup that raced such a write (it read the row before the commit and returns after
 * `changed()`) answers its own request but is not remembered: the generation tells it apart.
 */
export function createAuthCache() {
  const rows = new LRUCache<string, AuthRow>({ max: MAX_KEYS, ttl: TTL_MS });
  let generation = 0;
  return {
    async lookup(key: string, load: () => Promise<AuthRow | undefined>) {
      const hit = rows.get(key);
      if (hit) return hit;
      const seen = generation;
      const row = await load();
      if (row && seen === generation) rows.set(key, row);
      return row;
    },
    /** After a committed change to keys or tenants: nothing remembered before it is used again. */
    changed() {
      generation += 1;
      rows.clear();
    },
  };
}
export type AuthCache = ReturnType<typeof createAuthCache>;

/** Runs a write that can change authentication, then tells the cache (committed or not). */
export async function afterChange<T>(cache: AuthCache | undefined, write: Promise<T>): Promise<T> {
  try {
    return await write;
  } finally {
    cache?.changed();
  }
}
