import type { App, AppDeps } from "../http/app.ts";
import { type Auth, ctxOf } from "../http/auth.ts";
import { problemOf, sendProblem } from "../http/problem.ts";
import { AppError } from "../lib/errors.ts";
import type { TenantContext } from "../tenancy/context.ts";
import { JsonPostTransport, readMcpPost } from "./mcp-http-transport.ts";
import { createMcpServer } from "./mcp-server.ts";
import type { McpBackend } from "./mcp-tools.ts";

/** What the tools call: the same services as the HTTP routes (absent ones: that tool fails). */
type McpDeps = Pick<AppDeps, "memories" | "events" | "context" | "knowledge" | "agents">;

const unavailable = (what: string) =>
  new AppError("service_unavailable", `${what} is not enabled on this server`);

/** The tools' backend on this server: the service verbs, with the caller's context. */
function serviceBackend(deps: McpDeps, ctx: TenantContext): McpBackend {
  const { memories, events, context, knowledge, agents } = deps;
  return {
    addMemory: (input) =>
      input.async ? events.acceptAdd(ctx, input, undefined) : memories.addMemory(ctx, input),
    searchMemories: (input) => memories.searchMemories(ctx, input),
    getContext: async (input) => {
      if (!context) throw unavailable("Context");
      return context.getContext(ctx, input);
    },
    listMemories: (input) => memories.listMemories(ctx, input),
    deleteMemory: (id) => memories.deleteMemory(ctx, id),
    searchKnowledge: async (input) => {
      if (!knowledge) throw unavailable("Knowledge");
      return knowledge.service.searchKnowledge(ctx, input);
    },
    listAgents: async (input) => {
      if (!agents) throw unavailable("Agents");
      return agents.service.listAgents(ctx, input);
    },
    // The JSON answer of POST /v1/agents/{id}/chat with stream: false: no events to relay.
    chat: async (agentId, input) => {
      if (!agents) throw unavailable("Agents");
      return agents.chat.chat(ctx, agentId, { ...input, stream: false }, () => {});
    },
  };
}

/**
 * MCP over Streamable HTTP at /mcp, stateless (ADR 0038): every POST carries the API key, gets a
 * server for that key's context and scopes, and is answered with one JSON response (202 for
 * notifications alone) through JsonPostTransport, which checks the POST as the SDK's transport
 * does. There is no session to resume and no server-to-client stream, so GET and DELETE are 405.
 */
export function registerMcpRoutes(app: App, deps: McpDeps, auth: Auth) {
  app.post("/mcp", { onRequest: auth.tenant, schema: { hide: true } }, async (request, reply) => {
    const post = readMcpPost(request.headers, request.body);
    if (!("messages" in post)) return reply.status(post.status).send(post.body);
    const ctx = ctxOf(request);
    const server = createMcpServer({
      backend: serviceBackend(deps, ctx),
      scopes: ctx.scopes,
      agents: deps.agents !== undefined,
      problemOf: (err) =>
        problemOf(request.id, err, () => {
          request.log.error({ err }, "MCP tool call failed");
          return "Something went wrong on our side";
        }),
    });
    // What the SDK's Protocol could not handle (e.g. a posted response to no request of ours).
    server.onerror = (err) => request.log.warn({ err }, "MCP message not handled");
    const transport = new JsonPostTransport();
    // Closed once the response is out (or the client has gone): not on the answer's path.
    reply.raw.once("close", () => void server.close());
    await server.connect(transport);
    const responses = await transport.exchange(post.messages, {
      requestInfo: { headers: request.headers },
    });
    // Closed before the server answered: the client has gone, there is no one to answer.
    if (!responses) return reply.hijack();
    if (responses.length === 0) return reply.status(202).send();
    // A batch is answered with an array (JSON-RPC 2.0), even of one response.
    return reply
      .type("application/json")
      .send(JSON.stringify(post.batch ? responses : responses[0]));
  });

  for (const method of ["GET", "DELETE"] as const) {
    app.route({
      method,
      url: "/mcp",
      schema: { hide: true },
      handler: (request, reply) =>
        sendProblem(
          request,
          reply.header("allow", "POST"),
          "method_not_allowed",
          "This MCP endpoint is stateless: POST each JSON-RPC message (no sessions, no server stream)",
        ),
    });
  }
}
