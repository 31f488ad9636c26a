import type { FastifyReply, FastifyRequest } from "fastify";
import { secretEquals } from "../tenancy/api-key.ts";
import type { TenantContext } from "../tenancy/context.ts";
import type { TenantService } from "../tenancy/tenant-service.ts";
import { sendProblem } from "./problem.ts";

declare module "fastify" {
  interface FastifyRequest {
    tenant?: TenantContext;
  }
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match?.[1];
}

const unauthenticated = (request: FastifyRequest, reply: FastifyReply, detail: string) =>
  sendProblem(request, reply, 401, "unauthenticated", detail);

/** Hooks that turn a bearer credential into a tenant context or the platform admin. */
export function createAuth(tenants: TenantService, adminToken: string) {
  return {
    /** Tenant routes: an API key resolves to ctx; no, unknown or expired key is 401. */
    async tenant(request: FastifyRequest, reply: FastifyReply) {
      const token = bearer(request);
      if (!token) return unauthenticated(request, reply, "Send Authorization: Bearer <api key>");
      const ctx = await tenants.authenticateKey(token, request.id);
      if (ctx === "unknown") return unauthenticated(request, reply, "The API key is not valid");
      if (ctx === "expired") return unauthenticated(request, reply, "The API key has expired");
      if ("suspended" in ctx) {
        const why = ctx.suspended ? `: ${ctx.suspended}` : "";
        return sendProblem(
          request,
          reply,
          403,
          "tenant_suspended",
          `This tenant is suspended${why}; contact the platform operator`,
        );
      }
      request.tenant = ctx;
      request.log = request.log.child({ tenantId: ctx.tenantId });
    },

    /** Admin routes: only the platform admin token; a tenant key is recognised and refused (403). */
    async admin(request: FastifyRequest, reply: FastifyReply) {
      const token = bearer(request);
      if (!token)
        return unauthenticated(request, reply, "Send Authorization: Bearer <admin token>");
      if (secretEquals(token, adminToken)) return;
      if ((await tenants.authenticateKey(token, request.id)) !== "unknown") {
        return sendProblem(
          request,
          reply,
          403,
          "forbidden",
          "Admin routes need the platform admin token",
        );
      }
      return unauthenticated(request, reply, "The admin token is not valid");
    },
  };
}
export type Auth = ReturnType<typeof createAuth>;

/** The tenant context set by the auth hook (routes using it always run after the hook). */
export function ctxOf(request: FastifyRequest): TenantContext {
  if (!request.tenant) throw new Error("route is missing the tenant auth hook");
  return request.tenant;
}
