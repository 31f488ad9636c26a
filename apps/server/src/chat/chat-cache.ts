import { createHash, randomUUID } from "node:crypto";
import type { ChatCitation, ChatMode } from "@engram/contract";
import { LRUCache } from "lru-cache";
import type { RedisConnection } from "../cache/redis-connection.ts";
import { cosine } from "../embeddings/unit-vector.ts";

/**
 * The semantic cache's storage (docs/chat.md): answers kept per key space, each with its
 * question's embedding, found by cosine similarity. A key space names everything an answer
 * depends on (tenant, project, agent and its version, the project's knowledge generation, and the
 * visitor when the answer used their memories), so no lookup can cross agents, tenants or
 * visitors, and a bumped generation leaves the old answers unreachable (they expire). In-process
 * in embedded mode (a bounded LRU); in Redis in cluster mode, so every API process shares answers
 * and a generation bumped anywhere (an ingest worker) is seen everywhere.
 */

export interface CachedAnswer {
  text: string;
  citations: ChatCitation[];
  mode: ChatMode;
}

export interface ChatCacheStore {
  /** The project's knowledge generation; undefined when it cannot be read (no caching then). */
  generation(tenantId: string, projectId: string): Promise<string | undefined>;
  /** A new generation: every answer cached for the project so far becomes unreachable. */
  bump(tenantId: string, projectId: string): Promise<void>;
  /** The answer whose question is most similar to `vector`, if at least `minSimilarity`. */
  find(
    space: string,
    vector: Float32Array,
    minSimilarity: number,
  ): Promise<CachedAnswer | undefined>;
  put(space: string, vector: Float32Array, answer: CachedAnswer, ttlS: number): Promise<void>;
}

/** Answers kept per key space (an agent's distinct questions), newest first. */
const PER_SPACE = 50;

interface Entry extends CachedAnswer {
  vector: Float32Array;
  expiresAt: number;
}

function best<T extends { vector: Float32Array; expiresAt: number }>(
  entries: readonly T[],
  vector: Float32Array,
  minSimilarity: number,
): T | undefined {
  const now = Date.now();
  let found: T | undefined;
  let top = minSimilarity;
  for (const e of entries) {
    if (e.expiresAt <= now) continue;
    const s = cosine(e.vector, vector);
    if (s >= top) {
      top = s;
      found = e;
    }
  }
  return found;
}

const answerOf = (e: CachedAnswer): CachedAnswer => ({
  text: e.text,
  citations: e.citations,
  mode: e.mode,
});

/** In this process: at most `maxEntries` answers in all (LRU by key space). */
export function createLocalChatCache(maxEntries: number): ChatCacheStore {
  const spaces = new LRUCache<string, Entry[]>({
    max: Math.max(1, Math.ceil(maxEntries / 4)),
    maxSize: Math.max(1, maxEntries),
    sizeCalculation: (entries) => Math.max(1, entries.length),
  });
  // A generation is never reused, even for a project the LRU forgot: old answers stay unreachable.
  let seq = 0;
  const generations = new LRUCache<string, string>({ max: 100_000 });
  const fresh = () => `${++seq}`;
  return {
    async generation(tenantId, projectId) {
      const key = `${tenantId}:${projectId}`;
      let g = generations.get(key);
      if (g === undefined) {
        g = fresh();
        generations.set(key, g);
      }
      return g;
    },
    async bump(tenantId, projectId) {
      generations.set(`${tenantId}:${projectId}`, fresh());
    },
    async find(space, vector, minSimilarity) {
      const found = best(spaces.get(space) ?? [], vector, minSimilarity);
      return found && answerOf(found);
    },
    async put(space, vector, answer, ttlS) {
      if (maxEntries <= 0 || ttlS <= 0) return;
      const now = Date.now();
      const kept = (spaces.get(space) ?? []).filter((e) => e.expiresAt > now);
      const entry: Entry = { ...answerOf(answer), vector, expiresAt: now + ttlS * 1000 };
      // A new array, so the LRU counts its size again.
      spaces.set(space, [entry, ...kept].slice(0, PER_SPACE));
    },
  };
}

/**
 * In Redis: a generation key per project (a fresh random value on each bump, so no value is ever
 * reused, even after Redis lost the key), and a list per key space (newest first, trimmed,
 * expiring with its newest answer). Keys carry hashes, not questions or visitor ids. A failed
 * command is reported and read as a miss; an unreadable generation turns caching off for that
 * answer.
 */
export function createRedisChatCache(redis: RedisConnection): ChatCacheStore {
  const genKey = (tenantId: string, projectId: string) =>
    `${redis.prefix}chat:gen:${tenantId}:${projectId}`;
  const listKey = (space: string) =>
    `${redis.prefix}chat:ans:${createHash("sha256").update(space).digest("base64url")}`;
  const fresh = () => `${Date.now()}-${randomUUID()}`;
  return {
    async generation(tenantId, projectId) {
      if (!redis.isReady()) return undefined;
      try {
        const key = genKey(tenantId, projectId);
        const g = await redis.client.get(key);
        if (g !== null) return g;
        await redis.client.set(key, fresh(), "NX");
        return (await redis.client.get(key)) ?? undefined;
      } catch (err) {
        redis.failed(err);
        return undefined;
      }
    },
    async bump(tenantId, projectId) {
      // Thrown to the caller: a lost bump leaves stale answers until they expire.
      await redis.client.set(genKey(tenantId, projectId), fresh());
    },
    async find(space, vector, minSimilarity) {
      if (!redis.isReady()) return undefined;
      let raw: string[];
      try {
        raw = await redis.client.lrange(listKey(space), 0, PER_SPACE - 1);
      } catch (err) {
        redis.failed(err);
        return undefined;
      }
      const entries = raw.flatMap((text) => {
        const e = decode(text);
        return e ? [e] : [];
      });
      const found = best(entries, vector, minSimilarity);
      return found && answerOf(found);
    },
    async put(space, vector, answer, ttlS) {
      if (!redis.isReady() || ttlS <= 0) return;
      const key = listKey(space);
      const value = JSON.stringify({
        ...answerOf(answer),
        vector: floatBytes(vector).toString("base64"),
        expiresAt: Date.now() + ttlS * 1000,
      });
      await redis.client
        .multi()
        .lpush(key, value)
        .ltrim(key, 0, PER_SPACE - 1)
        .expire(key, ttlS)
        .exec()
        .catch((err) => redis.failed(err));
    },
  };
}

/** Little-endian float32 bytes, as the query-vector cache stores them. */
function floatBytes(vector: Float32Array): Buffer {
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  vector.forEach((x, i) => {
    bytes.writeFloatLE(x, i * 4);
  });
  return bytes;
}

function decode(text: string): Entry | undefined {
  try {
    const e = JSON.parse(text) as Omit<Entry, "vector"> & { vector: string };
    const bytes = Buffer.from(e.vector, "base64");
    const vector = new Float32Array(bytes.byteLength / 4);
    for (let i = 0; i < vector.length; i++) vector[i] = bytes.readFloatLE(i * 4);
    return { text: e.text, citations: e.citations, mode: e.mode, vector, expiresAt: e.expiresAt };
  } catch {
    return undefined;
  }
}
