import type { App } from "../http/app.ts";
import { sendProblem } from "../http/problem.ts";
import type { TenantContext } from "../tenancy/context.ts";
import type { RateLimitDecision, RateLimiter, RateLimitPolicy } from "./rate-limiter.ts";

interface Bucket {
  id: string;
  policy: RateLimitPolicy;
  /** Who the 429's detail says is limited. */
  what: string;
}

/** The buckets a tenant request spends from: its key's, then (unless null) its tenant's. */
function bucketsOf(ctx: TenantContext): Bucket[] {
  const limit = ctx.plan.rateLimit;
  if (!limit) return [];
  const { requests, tenantRequests, windowSeconds } = limit;
  const buckets: Bucket[] = [];
  if (ctx.actor.kind === "key") {
    buckets.push({
      id: `key:${ctx.actor.keyId}`,
      policy: { name: ctx.plan.id, points: requests, windowSeconds },
      what: "This API key",
    });
  }
  if (tenantRequests !== null) {
    buckets.push({
      id: `tenant:${ctx.tenantId}`,
      policy: { name: `${ctx.plan.id}-tenant`, points: tenantRequests, windowSeconds },
      what: "This tenant (all its API keys together)",
    });
  }
  return buckets;
}

/**
 * Limits every tenant route per API key and per tenant, by the policy of the tenant's plan (with
 * its overrides), and advertises the quota with the IETF `RateLimit-Policy` / `RateLimit` fields
 * (draft-ietf-httpapi-ratelimit-headers), on successes and errors alike; a refused request is a
 * 429 `rate_limited` problem with `Retry-After`.
 *
 * Both buckets must allow a request: the key's first (a key over its own limit never drains the
 * tenant's bucket for its sibling keys), then the tenant's; when the tenant's refuses, the key's
 * request is given back, so a refused request spends nothing. `RateLimit-Policy` lists both
 * policies; `RateLimit` reports the one closest to exhaustion (the refusing one on a 429).
 *
 * A `preParsing` hook runs after every route's `onRequest` hooks, so the tenant auth hook has
 * already set the context, and before the body is read or validated: a limited client costs no
 * JSON parsing. Routes without a tenant context (admin, health, docs, 401s) are not counted.
 */
export function registerRateLimit(app: App, limiter: RateLimiter) {
  app.addHook("preParsing", async (request, reply) => {
    const ctx = request.tenant;
    // Unlimited plans (rate_limit: null) are not counted and get no RateLimit fields.
    if (!ctx) return;
    const buckets = bucketsOf(ctx);
    if (buckets.length === 0) return;
    reply.header(
      "ratelimit-policy",
      buckets
        .map((b) => `"${b.policy.name}";q=${b.policy.points};w=${b.policy.windowSeconds}`)
        .join(", "),
    );
    let shown: { bucket: Bucket; decision: RateLimitDecision } | undefined;
    const spent: Bucket[] = [];
    for (const bucket of buckets) {
      const decision = await limiter.consume(bucket.id, bucket.policy);
      if (!shown || !decision.allowed || decision.remaining < shown.decision.remaining) {
        shown = { bucket, decision };
      }
      if (!decision.allowed) break;
      spent.push(bucket);
    }
    if (!shown) return;
    const { bucket, decision } = shown;
    reply.header(
      "ratelimit",
      `"${bucket.policy.name}";r=${decision.remaining};t=${decision.resetSeconds}`,
    );
    if (decision.allowed) return;
    await Promise.all(spent.map((b) => limiter.refund(b.id, b.policy)));
    // Retry-After names the same moment as the reset parameter (never earlier, as the draft asks).
    reply.header("retry-after", String(decision.resetSeconds));
    const { points, windowSeconds } = bucket.policy;
    await sendProblem(
      request,
      reply,
      "rate_limited",
      `${bucket.what} is limited to ${points} requests per ${windowSeconds} s; retry after ${decision.resetSeconds} s`,
    );
  });
}
