import type { IncomingMessage, Server, ServerResponse } from "node:http";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { registerKnowledgeRoutes } from "../knowledge/knowledge-routes.ts";
import type { KnowledgeService } from "../knowledge/knowledge-service.ts";
import { newId } from "../lib/ids.ts";
import { registerMemoryRoutes } from "../memories/memory-routes.ts";
import type { MemoryService } from "../memories/memory-service.ts";
import { registerRateLimit } from "../rate-limits/rate-limit-hook.ts";
import type { RateLimiter } from "../rate-limits/rate-limiter.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import { registerAdminRoutes, registerTenantRoutes } from "../tenancy/tenant-routes.ts";
import type { TenantService } from "../tenancy/tenant-service.ts";
import type { UsageService } from "../usage/usage-service.ts";
import { createAuth } from "./auth.ts";
import { docsUiOptions, OPENAPI_PATH } from "./docs-ui.ts";
import { registerHealthRoutes } from "./health-routes.ts";
import { errorHandler, sendProblem } from "./problem.ts";
import { validatorCompiler } from "./validation.ts";

export interface AppDeps {
  memories: MemoryService;
  tenants: TenantService;
  usage: UsageService;
  adminToken: string;
  maxBodyBytes: number;
  logLevel: string;
  ready: () => Promise<Record<string, "ok" | "down">>;
  /** Checks whose failure degrades the API (reported, still 200) instead of making it unready. */
  optionalChecks?: readonly string[];
  /** Per-key limits (by plan) on tenant routes; absent when rate limiting is off. */
  rateLimiter?: RateLimiter | undefined;
  /** Documents and knowledge search, with the largest upload in bytes. */
  knowledge?: { service: KnowledgeService; maxBytes: number } | undefined;
  /** Prometheus registry served at /metrics. */
  metrics?: Metrics | undefined;
}

export type App = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** Builds the HTTP API: routes, auth, problem+json errors and the OpenAPI 3.1 document. */
export async function buildApp(deps: AppDeps): Promise<App> {
  const app = Fastify({
    logger: {
      level: deps.logLevel,
      redact: ["req.headers.authorization", "req.headers.cookie"],
    },
    bodyLimit: deps.maxBodyBytes,
    genReqId: () => newId("req"),
    requestIdHeader: false,
    forceCloseConnections: "idle",
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler());
  app.setErrorHandler(errorHandler);
  // Fastify parses text/plain by default; the API speaks JSON only, so anything else is a 415.
  app.removeContentTypeParser("text/plain");
  // Many HTTP clients send `content-type: application/json` on every call, bodiless DELETEs
  // included: an empty body is "no body", so a route without one is unaffected and a route that
  // needs one answers 400 validation_failed naming `body`. Anything else goes to Fastify's parser
  // (prototype-poisoning checks included).
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (body.length === 0) done(null, undefined);
    else parseJson(request, body.toString(), done);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      request,
      reply,
      404,
      "not_found",
      `No route ${request.method} ${request.url.split("?")[0]}`,
    ),
  );
  // While closing, answer in-flight requests with `Connection: close`: otherwise the client keeps
  // the socket alive and the drain waits out the whole keep-alive timeout (72 s) before exiting.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onSend", async (request, reply) => {
    reply.header("x-request-id", request.id);
    if (closing) reply.header("connection", "close");
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Engram API",
        version: "0.1.0",
        description: "Long-term memory for AI agents: store and search memories per end user.",
      },
      components: {
        securitySchemes: {
          apiKey: { type: "http", scheme: "bearer", description: "A tenant API key (egm_…)" },
          adminToken: { type: "http", scheme: "bearer", description: "The platform admin token" },
        },
      },
    },
  });
  await app.register(swaggerUi, docsUiOptions);
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());

  const auth = createAuth(deps.tenants, deps.adminToken);
  if (deps.rateLimiter) registerRateLimit(app, deps.rateLimiter);
  registerHealthRoutes(app, deps.ready, deps.optionalChecks ?? []);
  registerAdminRoutes(app, deps.tenants, deps.usage, auth);
  registerTenantRoutes(app, deps.tenants, deps.usage, auth);
  registerMemoryRoutes(app, deps.memories, auth);
  if (deps.knowledge) {
    await registerKnowledgeRoutes(app, deps.knowledge.service, auth, deps.knowledge.maxBytes);
  }
  const registry = deps.metrics?.registry;
  if (registry) {
    // Unauthenticated like /healthz: no label carries a tenant or object id (telemetry/metrics.ts).
    app.get("/metrics", { schema: { hide: true } }, async (_request, reply) =>
      reply.type(registry.contentType).send(await registry.metrics()),
    );
  }
  return app;
}
