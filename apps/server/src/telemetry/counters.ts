/**
 * Every counter the process keeps. A closed list, so `/metrics` exports a bounded set of series
 * (no label carries a tenant, key or memory id).
 */
const COUNTER_NAMES = [
  /** Redis commands or connection attempts that failed; the caller fell back. */
  "redis_errors_total",
  /** Requests limited by the in-process limiter because Redis could not answer. */
  "rate_limit_fallbacks_total",
  /** Requests answered 429 rate_limited. */
  "rate_limited_total",
  /** Credentials (API keys, admin tokens) presented and refused as not valid. */
  "auth_failures_total",
  /** Authentication attempts refused, before any lookup, because their address failed too often. */
  "auth_throttled_total",
  /** Search-query embeddings served from this process's LRU (or joined in flight). */
  "query_cache_hits_total",
  /** Search-query embeddings served from Redis (computed by any process). */
  "query_cache_shared_hits_total",
  /** Search-query embeddings computed by the model. */
  "query_cache_misses_total",
  /** GET /v1/memories/{id} answered from the hot-memory cache. */
  "memory_cache_hits_total",
  /** GET /v1/memories/{id} read from the database. */
  "memory_cache_misses_total",
  /** Calls to the re-ranker (one per searched list; retries inside a call count once). */
  "rerank_calls_total",
  /** Re-ranker calls that failed (refused, unreachable, or an answer that did not validate). */
  "rerank_errors_total",
  /** Re-ranker calls that ran out of ENGRAM_RERANK_TIMEOUT_MS. */
  "rerank_timeouts_total",
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

/** Monotonic counters for one process, created by the composition root. */
export function createCounters() {
  const values = new Map<CounterName, number>(COUNTER_NAMES.map((n) => [n, 0]));
  return {
    inc(name: CounterName, by = 1): void {
      values.set(name, (values.get(name) ?? 0) + by);
    },
    get(name: CounterName): number {
      return values.get(name) ?? 0;
    },
    /** Every counter's current value, for /metrics and tests. */
    snapshot(): Record<CounterName, number> {
      return Object.fromEntries(values) as Record<CounterName, number>;
    },
  };
}
export type Counters = ReturnType<typeof createCounters>;
