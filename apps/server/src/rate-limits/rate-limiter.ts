import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type { RedisConnection } from "../cache/redis-connection.ts";
import type { Counters } from "../telemetry/counters.ts";

/** A fixed-window request quota, as advertised in the RateLimit-Policy header. */
export interface RateLimitPolicy {
  name: string;
  points: number;
  windowSeconds: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  /** Requests left in the current window (0 once limited). */
  remaining: number;
  /** Whole seconds until the window resets (at least 1). */
  resetSeconds: number;
}

/** Counts requests per key, under the policy of the key's plan. Memory when embedded; Redis
 * (shared by every process) in a cluster. */
export interface RateLimiter {
  /** Spends one request of the key's quota. Never throws: a limiter failure lets the request in. */
  consume(key: string, policy: RateLimitPolicy): Promise<RateLimitDecision>;
}

type LimiterOptions = ConstructorParameters<typeof RateLimiterMemory>[0];

/** The in-process limiter RateLimiterRedis uses while Redis cannot answer; counts each use. */
class FallbackMemoryLimiter extends RateLimiterMemory {
  constructor(
    opts: LimiterOptions,
    private readonly onUse: () => void,
  ) {
    super(opts);
  }
  override consume(key: string | number, points?: number, options?: Record<string, unknown>) {
    this.onUse();
    return super.consume(key, points, options);
  }
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** Builds the limiter; one counter set per distinct (requests, window) policy, made on first use. */
export function createRateLimiter(opts: {
  redis: RedisConnection | undefined;
  counters: Counters;
}): RateLimiter {
  const { redis, counters } = opts;
  const limiters = new Map<string, RateLimiterMemory | RateLimiterRedis>();

  function limiterFor(points: number, windowSeconds: number) {
    const id = `${points}/${windowSeconds}`;
    let limiter = limiters.get(id);
    if (limiter) return limiter;
    const base: LimiterOptions = { points, duration: windowSeconds };
    limiter = redis
      ? new RateLimiterRedis({
          ...base,
          // Keys of different policies never share a counter (a plan change starts a fresh one).
          keyPrefix: `${redis.prefix}rl:${id}`,
          storeClient: redis.client,
          // Straight to the fallback while disconnected, without trying a command.
          rejectIfRedisNotReady: true,
          // While Redis is down each process limits on its own: a key can then get up to
          // `points` per window from every process (documented in docs/rate-limits-and-caching.md).
          insuranceLimiter: new FallbackMemoryLimiter(base, () => {
            counters.inc("rate_limit_fallbacks_total");
            if (redis.isReady()) redis.failed(new Error("the rate limit command failed"));
          }),
          // A key over its limit is refused from memory until its window ends: an abusive client
          // costs no Redis round trip per request.
          inMemoryBlockOnConsumed: points + 1,
        })
      : new RateLimiterMemory(base);
    limiters.set(id, limiter);
    return limiter;
  }

  return {
    async consume(key, policy) {
      const { points, windowSeconds } = policy;
      try {
        const res = await limiterFor(points, windowSeconds).consume(key);
        return {
          allowed: true,
          remaining: res.remainingPoints,
          resetSeconds: seconds(res.msBeforeNext),
        };
      } catch (err) {
        if (err instanceof RateLimiterRes) {
          counters.inc("rate_limited_total");
          return { allowed: false, remaining: 0, resetSeconds: seconds(err.msBeforeNext) };
        }
        // Neither Redis nor the fallback answered (not expected): fail open, never fail the request.
        redis?.failed(err);
        return { allowed: true, remaining: points, resetSeconds: windowSeconds };
      }
    },
  };
}
