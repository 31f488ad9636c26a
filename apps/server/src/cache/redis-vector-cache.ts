import { createHash } from "node:crypto";
import type { SharedVectorCache } from "../embeddings/query-cache.ts";
import type { RedisConnection } from "./redis-connection.ts";

/** How long a query embedding stays in Redis. A model id's vectors never change, so only memory bounds it. */
const QUERY_VECTOR_TTL_SECONDS = 24 * 60 * 60;

/**
 * Query embeddings in Redis, shared by every API process: the L2 behind each process's LRU.
 * Keyed by model id and the SHA-256 of the exact text (so no query text is stored); the value
 * is the vector as little-endian float32 bytes. Failures are reported and read as a miss.
 */
export function createRedisVectorCache(redis: RedisConnection): SharedVectorCache {
  const keyOf = (modelId: string, text: string) =>
    `${redis.prefix}qv:${modelId}:${createHash("sha256").update(text).digest("base64url")}`;

  return {
    async get(modelId, text, dimension) {
      if (!redis.isReady()) return undefined;
      let bytes: Buffer | null;
      try {
        bytes = await redis.client.getBuffer(keyOf(modelId, text));
      } catch (err) {
        redis.failed(err);
        return undefined;
      }
      if (!bytes || bytes.byteLength !== dimension * 4) return undefined;
      const vector = new Float32Array(dimension);
      for (let i = 0; i < dimension; i++) vector[i] = bytes.readFloatLE(i * 4);
      return vector;
    },

    async set(modelId, text, vector) {
      if (!redis.isReady()) return;
      const bytes = Buffer.allocUnsafe(vector.length * 4);
      vector.forEach((x, i) => {
        bytes.writeFloatLE(x, i * 4);
      });
      await redis.client
        .set(keyOf(modelId, text), bytes, "EX", QUERY_VECTOR_TTL_SECONDS)
        .catch((err) => redis.failed(err));
    },
  };
}
