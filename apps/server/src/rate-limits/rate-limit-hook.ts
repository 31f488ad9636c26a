import type { App } from "../http/app.ts";
import { sendProblem } from "../http/problem.ts";
import type { RateLimiter } from "./rate-limiter.ts";

/**
 * Limits every tenant route per API key, by the policy of the tenant's plan (with its overrides), and advertises the quota with the IETF
 * `RateLimit-Policy` / `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers), on successes
 * and errors alike; a refused request is a 429 `rate_limited` problem with `Retry-After`.
 *
 * A `preParsing` hook runs after every route's `onRequest` hooks, so the tenant auth hook has
 * already set the context, and before the body is read or validated: a limited client costs no
 * JSON parsing. Routes without a tenant context (admin, health, docs, 401s) are not counted.
 */
export function registerRateLimit(app: App, limiter: RateLimiter) {
  app.addHook("preParsing", async (request, reply) => {
    const ctx = request.tenant;
    // Unlimited plans (rate_limit: null) are not counted and get no RateLimit fields.
    if (!ctx?.plan.rateLimit) return;
    const { requests: points, windowSeconds } = ctx.plan.rateLimit;
    const name = ctx.plan.id;
    const key = ctx.actor.kind === "key" ? ctx.actor.keyId : ctx.tenantId;
    const decision = await limiter.consume(key, { name, points, windowSeconds });
    reply.header("ratelimit-policy", `"${name}";q=${points};w=${windowSeconds}`);
    reply.header("ratelimit", `"${name}";r=${decision.remaining};t=${decision.resetSeconds}`);
    if (decision.allowed) return;
    // Retry-After names the same moment as the reset parameter (never earlier, as the draft asks).
    reply.header("retry-after", String(decision.resetSeconds));
    await sendProblem(
      request,
      reply,
      429,
      "rate_limited",
      `This API key is limited to ${points} requests per ${windowSeconds} s; retry after ${decision.resetSeconds} s`,
    );
  });
}
