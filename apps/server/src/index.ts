// @engram/server: the engine a host process (or a benchmark) embeds: configuration, the HTTP
// server and the schema migration as `engram serve` / `engram migrate` run them; the memory store
// and the search machinery it ranks with; plans, metering and rate limits with the Redis
// connection and counters they share. Infrastructure has entry points of its own
// (@engram/server/db, /embeddings, /knowledge); the test harness is @engram/server/testing.
export { createRedisConnection, type RedisConnection } from "./cache/redis-connection.ts";
export { migrateCommand } from "./cli/migrate.ts";
export { type Config, loadConfig } from "./config/config.ts";
export { newId } from "./lib/ids.ts";
export { contentHash } from "./memories/content-hash.ts";
export {
  createMemorySearchStore,
  type MemorySearchStore,
} from "./memories/memory-search-store.ts";
export { createMemoryStore, type MemoryStore, type NewMemory } from "./memories/memory-store.ts";
export { type EffectivePlan, loadPlans } from "./plans/plans.ts";
export { createLimiterSet, createRateLimiter } from "./rate-limits/rate-limiter.ts";
export { embeddingQuery, keywordQuery, vectorLiteral } from "./search/query-text.ts";
export { vectorScanSettings } from "./search/vector-scan.ts";
export { createServer, type Server } from "./server.ts";
export { type Counters, createCounters } from "./telemetry/counters.ts";
export { hashSecret } from "./tenancy/api-key.ts";
export { createAuthCache } from "./tenancy/auth-cache.ts";
export { createKeyStore } from "./tenancy/key-store.ts";
export { applyUsage } from "./usage/metering.ts";
