import type { FastifyReply, FastifyRequest } from "fastify";
import type { AuthThrottle } from "../rate-limits/auth-throttle.ts";
import { secretEquals } from "../tenancy/api-key.ts";
import type { AuthenticationService } from "../tenancy/authentication-service.ts";
import type { TenantContext } from "../tenancy/context.ts";
import { sendProblem } from "./problem.ts";

declare module "fastify" {
  interface FastifyRequest {
    tenant?: TenantContext;
  }
}

/**
 * The credential of an `Authorization: <scheme> <credential>` header whose scheme (any case) is one
 * of `schemes`: `Bearer` everywhere, and also `Token` on the mem0-compatible surface (mem0/).
 */
function credential(request: FastifyRequest, schemes: readonly string[]): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^(\S+)\s+(\S+)$/.exec(header);
  const scheme = match?.[1]?.toLowerCase();
  return scheme && schemes.some((s) => s.toLowerCase() === scheme) ? match?.[2] : undefined;
}

const BEARER = ["Bearer"] as const;

/** The credential of an `Authorization: Bearer <credential>` header (the widget's routes too). */
export const bearerToken = (request: FastifyRequest) => credential(request, BEARER);
/** mem0's clients send `Authorization: Token <key>`; its surface takes that and Bearer. */
const BEARER_OR_TOKEN = ["Bearer", "Token"] as const;

const unauthenticated = (request: FastifyRequest, reply: FastifyReply, detail: string) =>
  sendProblem(request, reply, "unauthenticated", detail);

/**
 * Hooks that turn a bearer credential into a tenant context or the platform admin.
 *
 * Every presented credential that is refused (unknown, revoked, expired, a wrong admin token)
 * counts against the request's address in `throttle`. An address past the limit gets 429 before
 * its credential is looked up or compared, so guessing from it costs nothing and learns nothing;
 * that holds for a valid credential from that address too (telling it apart would need the very
 * lookup that answers a guess). Requests without a bearer credential are 401 and not counted.
 */
export function createAuth(
  authentication: AuthenticationService,
  adminToken: string,
  throttle: AuthThrottle | undefined,
) {
  /** Sends the 429 when the address is throttled; true when it did. */
  async function throttled(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const wait = throttle ? await throttle.blockedFor(request.ip) : 0;
    if (wait === 0) return false;
    reply.header("retry-after", String(wait));
    await sendProblem(
      request,
      reply,
      "rate_limited",
      `Too many failed authentication attempts from this address; retry after ${wait} s`,
    );
    return true;
  }

  async function refuse(request: FastifyRequest, reply: FastifyReply, detail: string) {
    await throttle?.failed(request.ip);
    return unauthenticated(request, reply, detail);
  }

  /** A tenant hook taking the API key from these Authorization schemes. */
  function tenantHook(schemes: readonly string[], missing: string) {
    return async (request: FastifyRequest, reply: FastifyReply) => {
      const token = credential(request, schemes);
      if (!token) return unauthenticated(request, reply, missing);
      if (token.startsWith("pk_")) {
        return sendProblem(
          request,
          reply,
          "forbidden",
          "A publishable key only reaches its agent's config and chat; use an API key",
        );
      }
      if (await throttled(request, reply)) return reply;
      const ctx = await authentication.authenticateKey(token, request.id);
      if (ctx === "unknown") return refuse(request, reply, "The API key is not valid");
      if (ctx === "expired") return refuse(request, reply, "The API key has expired");
      if ("suspended" in ctx) {
        const why = ctx.suspended ? `: ${ctx.suspended}` : "";
        return sendProblem(
          request,
          reply,
          "tenant_suspended",
          `This tenant is suspended${why}; contact the platform operator`,
        );
      }
      request.tenant = ctx;
      request.log = request.log.child({ tenantId: ctx.tenantId });
    };
  }

  return {
    /** Tenant routes: an API key resolves to ctx; no, unknown or expired key is 401. */
    tenant: tenantHook(BEARER, "Send Authorization: Bearer <api key>"),

    /** The mem0-compatible routes: the same, with the key sent as `Token <key>` (or Bearer). */
    tenantOrToken: tenantHook(BEARER_OR_TOKEN, "Send Authorization: Token <api key>"),

    /** Admin routes: only the platform admin token; a tenant key is recognised and refused (403). */
    async admin(request: FastifyRequest, reply: FastifyReply) {
      const token = credential(request, BEARER);
      if (!token)
        return unauthenticated(request, reply, "Send Authorization: Bearer <admin token>");
      if (await throttled(request, reply)) return reply;
      // Constant time: the comparison takes as long however much of the token is right.
      if (secretEquals(token, adminToken)) return;
      if ((await authentication.authenticateKey(token, request.id)) !== "unknown") {
        return sendProblem(
          request,
          reply,
          "forbidden",
          "Admin routes need the platform admin token",
        );
      }
      return refuse(request, reply, "The admin token is not valid");
    },
  };
}
export type Auth = ReturnType<typeof createAuth>;

/** The tenant context set by the auth hook (routes using it always run after the hook). */
export function ctxOf(request: FastifyRequest): TenantContext {
  if (!request.tenant) throw new Error("route is missing the tenant auth hook");
  return request.tenant;
}
