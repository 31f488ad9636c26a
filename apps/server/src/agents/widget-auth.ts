import { type Scope, Scopes } from "@engram/contract";
import type { FastifyReply, FastifyRequest } from "fastify";
import { type Auth, bearerToken } from "../http/auth.ts";
import { sendProblem } from "../http/problem.ts";
import type { PlanCatalog } from "../plans/plans.ts";
import type { RateLimiter, RateLimitPolicy } from "../rate-limits/rate-limiter.ts";
import type { TenantContext } from "../tenancy/context.ts";
import { looksLikePublishableKey } from "./agent-service.ts";
import type { AgentStore } from "./agent-store.ts";

/** What a publishable key may do: read its agent's config, chat, and nothing else. */
const VISITOR_SCOPES: ReadonlySet<Scope> = new Set<Scope>([
  "agents:read",
  "memories:read",
  "knowledge:read",
  "conversations:write",
]);

/** Requests one visitor (address) may make to one agent per window. */
export interface VisitorLimit {
  requests: number;
  windowSeconds: number;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The browser origin a publishable-key request was allowed from (CORS echoes it). */
    widgetOrigin?: string;
  }
}

/** CORS headers for an allowed widget origin, on answers and on errors alike. */
function allowOrigin(reply: FastifyReply, origin: string) {
  reply.header("access-control-allow-origin", origin);
  reply.header("vary", "Origin");
}

/**
 * Authentication of the agent routes a widget calls (config, chat): an agent's publishable key
 * from one of its allowed origins, or an API key. A publishable key gets a context with
 * VISITOR_SCOPES in its agent's project, after a per-visitor (address) rate limit; it is refused
 * on any other agent (403) and, through the tenant hook, on every other route (403).
 */
export function createWidgetAuth(deps: {
  auth: Auth;
  agents: AgentStore;
  plans: PlanCatalog;
  limiter: RateLimiter;
  visitorLimit: VisitorLimit;
}) {
  const policy: RateLimitPolicy = {
    name: "visitor",
    points: deps.visitorLimit.requests,
    windowSeconds: deps.visitorLimit.windowSeconds,
  };

  /** The publishable-key context, or a problem sent (the caller then stops). */
  async function visitor(
    request: FastifyRequest<{ Params: { id: string } }>,
    reply: FastifyReply,
    token: string,
  ): Promise<TenantContext | undefined> {
    const origin = request.headers.origin;
    const row = looksLikePublishableKey(token)
      ? await deps.agents.byPublishableKey(token)
      : undefined;
    if (!row) {
      await sendProblem(request, reply, "unauthenticated", "The publishable key is not valid");
      return undefined;
    }
    if (!origin || !row.allowed_origins.includes(origin)) {
      // No CORS header: a browser on another origin cannot even read this refusal.
      await sendProblem(
        request,
        reply,
        "forbidden",
        origin
          ? `Origin ${origin.slice(0, 300)} is not one of this agent's allowed_origins`
          : "A publishable key is only accepted from a browser on one of the agent's allowed_origins",
      );
      return undefined;
    }
    allowOrigin(reply, origin);
    request.widgetOrigin = origin;
    if (row.agent_id !== request.params.id) {
      await sendProblem(
        request,
        reply,
        "forbidden",
        "This publishable key belongs to another agent",
      );
      return undefined;
    }
    if (row.suspended_at) {
      await sendProblem(request, reply, "tenant_suspended", "This service is unavailable");
      return undefined;
    }
    const decision = await deps.limiter.consume(`visitor:${row.agent_id}:${request.ip}`, policy);
    if (!decision.allowed) {
      reply.header("retry-after", String(decision.resetSeconds));
      await sendProblem(
        request,
        reply,
        "rate_limited",
        `Too many messages; retry after ${decision.resetSeconds} s`,
      );
      return undefined;
    }
    return {
      tenantId: row.tenant_id,
      projectId: row.project_id,
      actor: { kind: "visitor", agentId: row.agent_id },
      scopes: new Set(Scopes.filter((s) => VISITOR_SCOPES.has(s))),
      plan: deps.plans.effective(row.plan, row.overrides),
      requestId: request.id,
    };
  }

  return {
    /** onRequest hook of the agent routes a widget calls. */
    async agentRoute(request: FastifyRequest, reply: FastifyReply) {
      const token = bearerToken(request);
      if (token?.startsWith("pk_")) {
        const ctx = await visitor(
          request as FastifyRequest<{ Params: { id: string } }>,
          reply,
          token,
        );
        if (!ctx) return reply;
        request.tenant = ctx;
        request.log = request.log.child({ tenantId: ctx.tenantId });
        return;
      }
      return deps.auth.tenant(request, reply);
    },
  };
}
export type WidgetAuth = ReturnType<typeof createWidgetAuth>;

/**
 * The CORS preflight of the widget's routes. A preflight carries no credentials, so it cannot
 * tell an allowed origin from another: it allows the method and headers, and the request itself
 * is refused (without CORS headers, so the browser hides even the refusal) from any origin not in
 * the agent's allowed_origins.
 */
export function preflight(request: FastifyRequest, reply: FastifyReply) {
  const origin = request.headers.origin;
  if (origin) allowOrigin(reply, origin);
  return reply
    .header("access-control-allow-methods", "GET, POST")
    .header("access-control-allow-headers", "authorization, content-type")
    .header("access-control-max-age", "600")
    .status(204)
    .send();
}
