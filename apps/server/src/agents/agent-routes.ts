import {
  Agent,
  AgentPublicConfig,
  CreateAgentBody,
  DeleteAgentResponse,
  ListAgentsQuery,
  ListAgentsResponse,
  ObjectIdParams,
  UpdateAgentBody,
} from "@engram/contract";
import type { App } from "../http/app.ts";
import { type Auth, ctxOf } from "../http/auth.ts";
import { problemResponses } from "../http/route-helpers.ts";
import type { AgentService } from "./agent-service.ts";
import { preflight, type WidgetAuth } from "./widget-auth.ts";

const common = { tags: ["agents"], security: [{ apiKey: [] }] };
const widgetSecurity: Record<string, string[]>[] = [{ apiKey: [] }, { publishableKey: [] }];

/** /v1/agents: RAG agents over the project's memories and knowledge (docs/agents.md). */
export function registerAgentRoutes(
  app: App,
  agents: AgentService,
  auth: Auth,
  widgetAuth: WidgetAuth,
) {
  const onRequest = auth.tenant;

  app.post(
    "/v1/agents",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "createAgent",
        summary: "Create an agent (within the plan's agents limit)",
        body: CreateAgentBody,
        response: { 201: Agent, ...problemResponses },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await agents.createAgent(ctxOf(request), request.body)),
  );

  app.get(
    "/v1/agents",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "listAgents",
        summary: "The project's agents, oldest first",
        querystring: ListAgentsQuery,
        response: { 200: ListAgentsResponse, ...problemResponses },
      },
    },
    async (request) => agents.listAgents(ctxOf(request), request.query),
  );

  app.get(
    "/v1/agents/:id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "getAgent",
        summary: "An agent",
        params: ObjectIdParams,
        response: { 200: Agent, ...problemResponses },
      },
    },
    async (request) => agents.getAgent(ctxOf(request), request.params.id),
  );

  app.patch(
    "/v1/agents/:id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "updateAgent",
        summary: "Change an agent (the fields given replace what was; cached answers lapse)",
        params: ObjectIdParams,
        body: UpdateAgentBody,
        response: { 200: Agent, ...problemResponses },
      },
    },
    async (request) => agents.updateAgent(ctxOf(request), request.params.id, request.body),
  );

  app.delete(
    "/v1/agents/:id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "deleteAgent",
        summary: "Delete an agent with its conversations",
        params: ObjectIdParams,
        response: { 200: DeleteAgentResponse, ...problemResponses },
      },
    },
    async (request) => agents.deleteAgent(ctxOf(request), request.params.id),
  );

  app.options("/v1/agents/:id/config", { schema: { hide: true } }, preflight);
  app.get(
    "/v1/agents/:id/config",
    {
      onRequest: widgetAuth.agentRoute,
      schema: {
        ...common,
        security: widgetSecurity,
        operationId: "getAgentConfig",
        summary: "What the widget shows of an agent (publishable key, from an allowed origin)",
        params: ObjectIdParams,
        response: { 200: AgentPublicConfig, ...problemResponses },
      },
    },
    async (request) => agents.publicConfig(ctxOf(request), request.params.id),
  );
}
