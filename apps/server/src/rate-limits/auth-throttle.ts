import ipaddr from "ipaddr.js";
import type { Counters } from "../telemetry/counters.ts";
import { type LimiterSet, wholeSeconds } from "./rate-limiter.ts";

/**
 * Failed authentication, counted per source address. An address with `limit` failures in the
 * current window is refused before its credential is looked up or compared, until the window ends.
 */
export interface AuthThrottle {
  /** Seconds the address must wait before presenting a credential again; 0 when it may. */
  blockedFor(address: string): Promise<number>;
  /** Counts one refused credential from the address. */
  failed(address: string): Promise<void>;
}

/**
 * Who an address is, for counting: an IPv4 address, or the /64 an IPv6 address belongs to (one
 * host or site usually holds a whole /64, so counting single IPv6 addresses would let it rotate).
 */
export function addressGroup(address: string): string {
  if (!ipaddr.isValid(address)) return `raw:${address.slice(0, 64)}`;
  const ip = ipaddr.process(address); // IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4
  if (ip.kind() === "ipv4") return ip.toString();
  const parts = (ip as ipaddr.IPv6).parts.slice(0, 4);
  return `${parts.map((p) => p.toString(16)).join(":")}::/64`;
}

/** The throttle on a limiter set (memory, or Redis shared by every process). */
export function createAuthThrottle(
  set: LimiterSet,
  counters: Counters,
  opts: { limit: number; windowSeconds: number },
): AuthThrottle {
  const limiter = () => set.limiterFor("authfail", opts.limit, opts.windowSeconds);
  return {
    async blockedFor(address) {
      try {
        const res = await limiter().get(addressGroup(address));
        if (!res || res.consumedPoints < opts.limit) return 0;
        counters.inc("auth_throttled_total");
        return wholeSeconds(res.msBeforeNext);
      } catch (err) {
        // Neither Redis nor the fallback answered (not expected): fail open, as the limiter does.
        set.redis?.failed(err);
        return 0;
      }
    },
    async failed(address) {
      counters.inc("auth_failures_total");
      try {
        // penalty counts without refusing (consume would reject once past the limit).
        await limiter().penalty(addressGroup(address), 1);
      } catch (err) {
        set.redis?.failed(err);
      }
    },
  };
}
