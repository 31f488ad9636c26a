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

/** Counts requests per bucket (a key, a tenant), under a policy. Memory when embedded; Redis
 * (shared by every process) in a cluster. */
export interface RateLimiter {
  /** Spends one request of the bucket's quota. Never throws: a limiter failure lets the request in. */
  consume(bucket: string, policy: RateLimitPolicy): Promise<RateLimitDecision>;
  /** Gives back one request spent by consume (a request another bucket then refused). */
  refund(bucket: string, policy: RateLimitPolicy): Promise<void>;
}

type LimiterOptions = ConstructorParameters<typeof RateLimiterMemory>[0];
type Limiter = RateLimiterMemory | RateLimiterRedis;

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
  override penalty(key: string | number, points?: number, options?: Record<string, unknown>) {
    this.onUse();
    return super.penalty(key, points, options);
  }
  override reward(key: string | number, points?: number, options?: Record<string, unknown>) {
    this.onUse();
    return super.reward(key, points, options);
  }
  override get(key: string | number, options?: Record<string, unknown>) {
    this.onUse();
    return super.get(key, options);
  }
}

export const wholeSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * Fixed-window counters from rate-limiter-flexible, one set per (name, points, window), made on
 * first use: in the process, or in Redis (shared) with a per-process fallback while Redis is down.
 * The request limiter and the failed-authentication throttle both count through it.
 */
export function createLimiterSet(opts: { redis: RedisConnection | undefined; counters: Counters }) {
  const { redis, counters } = opts;
  const limiters = new Map<string, Limiter>();
  return {
    redis,
    limiterFor(name: string, points: number, windowSeconds: number): Limiter {
      const id = `${name}:${points}/${windowSeconds}`;
      let limiter = limiters.get(id);
      if (limiter) return limiter;
      const base: LimiterOptions = { points, duration: windowSeconds };
      limiter = redis
        ? new RateLimiterRedis({
            ...base,
            // Counters of different policies never meet (a plan change starts a fresh one).
            keyPrefix: `${redis.prefix}${id}`,
            storeClient: redis.client,
            // Straight to the fallback while disconnected, without trying a command.
            rejectIfRedisNotReady: true,
            // While Redis is down each process limits on its own: a bucket can then get up to
            // `points` per window from every process (documented in docs/rate-limits-and-caching.md).
            insuranceLimiter: new FallbackMemoryLimiter(base, () => {
              counters.inc("rate_limit_fallbacks_total");
              if (redis.isReady()) redis.failed(new Error("the rate limit command failed"));
            }),
            // A bucket over its limit is refused from memory until its window ends: an abusive
            // client costs no Redis round trip per request.
            inMemoryBlockOnConsumed: points + 1,
          })
        : new RateLimiterMemory(base);
      limiters.set(id, limiter);
      return limiter;
    },
  };
}
export type LimiterSet = ReturnType<typeof createLimiterSet>;

/** Builds the request limiter (per key and per tenant, by plan) on a limiter set. */
export function createRateLimiter(set: LimiterSet, counters: Counters): RateLimiter {
  const limiterFor = (p: RateLimitPolicy) => set.limiterFor("rl", p.points, p.windowSeconds);
  return {
    async consume(bucket, policy) {
      const { points, windowSeconds } = policy;
      try {
        const res = await limiterFor(policy).consume(bucket);
        return {
          allowed: true,
          remaining: res.remainingPoints,
          resetSeconds: wholeSeconds(res.msBeforeNext),
        };
      } catch (err) {
        if (err instanceof RateLimiterRes) {
          counters.inc("rate_limited_total");
          return { allowed: false, remaining: 0, resetSeconds: wholeSeconds(err.msBeforeNext) };
        }
        // Neither Redis nor the fallback answered (not expected): fail open, never fail the request.
        set.redis?.failed(err);
        return { allowed: true, remaining: points, resetSeconds: windowSeconds };
      }
    },
    async refund(bucket, policy) {
      try {
        await limiterFor(policy).reward(bucket, 1);
      } catch (err) {
        // A lost refund only costs the bucket one request; never fail the request for it.
        set.redis?.failed(err);
      }
    },
  };
}
