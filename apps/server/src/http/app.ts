import type { IncomingMessage, Server, ServerResponse } from "node:http";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import websocket from "@fastify/websocket";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { registerAgentRoutes } from "../agents/agent-routes.ts";
import type { AgentService } from "../agents/agent-service.ts";
import type { WidgetAuth } from "../agents/widget-auth.ts";
import { registerCategoryRoutes } from "../categories/category-routes.ts";
import type { CategoryService } from "../categories/category-service.ts";
import { registerChatRoutes } from "../chat/chat-routes.ts";
import type { ChatService } from "../chat/chat-service.ts";
import { registerContextRoutes } from "../context/context-routes.ts";
import type { ContextService } from "../context/context-service.ts";
import { registerConversationRoutes } from "../conversations/conversation-routes.ts";
import type { ConversationService } from "../conversations/conversation-service.ts";
import { registerEntityRoutes } from "../entities/entity-routes.ts";
import type { EntityService } from "../entities/entity-service.ts";
import { registerErasureRoutes } from "../erasure/erasure-routes.ts";
import type { ErasureService } from "../erasure/erasure-service.ts";
import { registerKnowledgeRoutes } from "../knowledge/knowledge-routes.ts";
import type { KnowledgeService } from "../knowledge/knowledge-service.ts";
import { newId } from "../lib/ids.ts";
import { registerMcpRoutes } from "../mcp/mcp-routes.ts";
import { registerMem0Routes } from "../mem0/mem0-routes.ts";
import { registerEventRoutes } from "../memories/event-routes.ts";
import type { MemoryEventService } from "../memories/memory-event-service.ts";
import { registerMemoryRoutes } from "../memories/memory-routes.ts";
import type { MemoryService } from "../memories/memory-service.ts";
import type { AuthThrottle } from "../rate-limits/auth-throttle.ts";
import { registerRateLimit } from "../rate-limits/rate-limit-hook.ts";
import type { RateLimiter } from "../rate-limits/rate-limiter.ts";
import { logOptions } from "../telemetry/log-options.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import type { Tenancy } from "../tenancy/tenancy-module.ts";
import { registerAdminRoutes, registerTenantRoutes } from "../tenancy/tenant-routes.ts";
import { registerUsageRoutes } from "../usage/usage-routes.ts";
import type { UsageService } from "../usage/usage-service.ts";
import { registerWebhookRoutes } from "../webhooks/webhook-routes.ts";
import type { WebhookService } from "../webhooks/webhook-service.ts";
import { registerWidgetRoutes } from "../widget/widget-routes.ts";
import { createAuth } from "./auth.ts";
import { docsUiOptions, OPENAPI_PATH } from "./docs-ui.ts";
import { registerHealthRoutes } from "./health-routes.ts";
import { errorHandler, sendProblem } from "./problem.ts";
import { refusedJsonBody } from "./untrusted-json.ts";
import { validatorCompiler } from "./validation.ts";

export interface AppDeps {
  memories: MemoryService;
  /** A project's memory categories (GET/PUT/DELETE /v1/categories). */
  categories?: CategoryService | undefined;
  /** GET /v1/entities, GET and DELETE /v1/entities/{id}. */
  entities?: EntityService | undefined;
  /** Asynchronous adds (`async: true`) and GET /v1/events/{id}. */
  events: MemoryEventService;
  /** Erasure of an end user (DELETE /v1/users/{user_id}) and its receipts. */
  erasure?: ErasureService | undefined;
  tenancy: Tenancy;
  usage: UsageService;
  adminToken: string;
  maxBodyBytes: number;
  /** Seconds a client has to send a whole request (ENGRAM_REQUEST_TIMEOUT_S). */
  requestTimeoutS?: number;
  logLevel: string;
  ready: () => Promise<Record<string, "ok" | "down">>;
  /** Checks whose failure degrades the API (reported, still 200) instead of making it unready. */
  optionalChecks?: readonly string[];
  /** Per-key and per-tenant limits (by plan) on tenant routes; absent when rate limiting is off. */
  rateLimiter?: RateLimiter | undefined;
  /** Failed authentications per source address; absent when ENGRAM_AUTH_FAILURE_LIMIT is 0. */
  authThrottle?: AuthThrottle | undefined;
  /** Which X-Forwarded-For hops to believe for the client address (false: none). */
  trustProxy?: boolean | string[];
  /** Documents and knowledge search, with the largest upload in bytes. */
  knowledge?: { service: KnowledgeService; maxBytes: number } | undefined;
  /** POST /v1/context: memories and knowledge packed into a token budget. */
  context?: ContextService | undefined;
  /** Agents, their chat (SSE, JSON, WebSocket) and conversations. */
  agents?:
    | {
        service: AgentService;
        widgetAuth: (auth: ReturnType<typeof createAuth>) => WidgetAuth;
        conversations: ConversationService;
        chat: ChatService;
      }
    | undefined;
  /** Prometheus registry served at /metrics. */
  metrics?: Metrics | undefined;
  /** /v1/webhooks: the project's webhooks, their delivery log and redelivery. */
  webhooks?: WebhookService | undefined;
}

export type App = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** Longest path parameter the router hands to the routes' schemas, in (encoded) characters. */
const PATH_PARAM_MAX = 2048;

/** Builds the HTTP API: routes, auth, problem+json errors and the OpenAPI 3.1 document. */
export async function buildApp(deps: AppDeps): Promise<App> {
  // A slow sender (slow-loris) holds its connection only this long, headers included; Fastify's
  // default is no limit. Node checks the deadline every connectionsCheckingInterval.
  const requestTimeout = (deps.requestTimeoutS ?? 120) * 1000;
  const app = Fastify({
    requestTimeout,
    http: {
      requestTimeout,
      headersTimeout: Math.min(60_000, requestTimeout),
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, requestTimeout / 4)),
    },
    logger: logOptions(deps.logLevel),
    bodyLimit: deps.maxBodyBytes,
    genReqId: () => newId("req"),
    requestIdHeader: false,
    forceCloseConnections: "idle",
    return503OnClosing: true,
    // request.ip keys the failed-authentication throttle: only believe proxies the operator names.
    trustProxy: deps.trustProxy ?? false,
    // Path ids are checked by their schemas (a user id may have 128 characters, each up to 12
    // bytes percent-encoded): the router's own limit (100) would answer a bare 414 before them.
    routerOptions: { maxParamLength: PATH_PARAM_MAX },
    // What the router refuses itself (a path segment past that, malformed percent-encoding) is a
    // problem too, like everything else (no hook runs for these: the request id is set here).
    frameworkErrors: (_err, request, reply) =>
      sendProblem(
        request,
        reply.header("x-request-id", request.id),
        "validation_failed",
        "The request path is not valid",
      ),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler());
  app.setErrorHandler(errorHandler);
  // Fastify parses text/plain by default; the API speaks JSON only, so anything else is a 415.
  app.removeContentTypeParser("text/plain");
  // Many HTTP clients send `content-type: application/json` on every call, bodiless DELETEs
  // included: an empty body is "no body", so a route without one is unaffected and a route that
  // needs one answers 400 validation_failed naming `body`. Anything else goes to Fastify's own
  // parser (secure-json-parse: __proto__ and constructor.prototype refused), with that refusal
  // answered as a 400 naming the field instead of "not valid JSON".
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (body.length === 0) return done(null, undefined);
    const text = body.toString();
    parseJson(request, text, (err, value) => done(err && (refusedJsonBody(text) ?? err), value));
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      request,
      reply,
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
          publishableKey: {
            type: "http",
            scheme: "bearer",
            description:
              "An agent's publishable key (pk_…): its config and chat only, from its allowed_origins",
          },
        },
      },
    },
  });
  await app.register(swaggerUi, docsUiOptions);
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());

  const auth = createAuth(deps.tenancy.authentication, deps.adminToken, deps.authThrottle);
  if (deps.rateLimiter) registerRateLimit(app, deps.rateLimiter);
  registerHealthRoutes(app, deps.ready, deps.optionalChecks ?? []);
  // The chat widget's loader and bundle: public files (docs/widget.md).
  registerWidgetRoutes(app);
  registerAdminRoutes(app, deps.tenancy, auth);
  registerTenantRoutes(app, deps.tenancy, auth);
  registerUsageRoutes(app, deps.usage, auth);
  if (deps.categories) registerCategoryRoutes(app, deps.categories, auth);
  registerMemoryRoutes(app, deps.memories, auth, deps.events);
  registerEventRoutes(app, deps.events, auth);
  if (deps.context) registerContextRoutes(app, deps.context, auth);
  if (deps.erasure) registerErasureRoutes(app, deps.erasure, auth);
  if (deps.entities) registerEntityRoutes(app, deps.entities, auth);
  if (deps.webhooks) registerWebhookRoutes(app, deps.webhooks, auth);
  if (deps.agents) {
    // Chat over WebSocket; a client frame is one chat message (chat-routes.ts bounds it too).
    await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
    const widgetAuth = deps.agents.widgetAuth(auth);
    registerAgentRoutes(app, deps.agents.service, auth, widgetAuth);
    registerChatRoutes(app, deps.agents.chat, widgetAuth);
    registerConversationRoutes(app, deps.agents.conversations, auth);
  }
  registerMem0Routes(
    app,
    {
      memories: deps.memories,
      events: deps.events,
      entities: deps.entities,
      erasure: deps.erasure,
    },
    auth,
  );
  if (deps.knowledge) {
    await registerKnowledgeRoutes(app, deps.knowledge.service, auth, deps.knowledge.maxBytes);
  }
  // MCP over Streamable HTTP (docs/mcp.md): the same service verbs as tools.
  registerMcpRoutes(app, deps, auth);
  const registry = deps.metrics?.registry;
  if (registry) {
    // Unauthenticated like /healthz: no label carries a tenant or object id (telemetry/metrics.ts).
    app.get("/metrics", { schema: { hide: true } }, async (_request, reply) =>
      reply.type(registry.contentType).send(await registry.metrics()),
    );
  }
  return app;
}
