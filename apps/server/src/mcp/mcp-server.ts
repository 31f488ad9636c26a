import type { Scope } from "@engram/contract";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
} from "@modelcontextprotocol/sdk/types.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
import { bodyValidator } from "../http/validation.ts";
import { AppError } from "../lib/errors.ts";
import { MCP_TOOLS, type McpBackend, type McpTool, missingScope } from "./mcp-tools.ts";

/** A problem as a tool error carries it: at least its stable code and what went wrong. */
interface ToolProblem {
  code: string;
  detail?: string | undefined;
  field?: string | undefined;
}

export interface McpServerOptions {
  backend: McpBackend;
  /** The caller's scopes: tools it lacks one for are not listed; undefined lists every tool. */
  scopes: ReadonlySet<Scope> | undefined;
  /** Whether the server has agents (list_agents, chat_with_agent). */
  agents: boolean;
  /** The problem an error thrown by a tool call stands for (AppError, validation, the API's). */
  problemOf: (err: unknown) => ToolProblem;
}

const SERVER_INFO = { name: "engram", title: "Engram", version: "0.1.0" };

const INSTRUCTIONS =
  "Engram is long-term memory for AI agents. Scope memories to the end user with user_id. " +
  "Before answering, call get_context (or search_memories) with the user's question; " +
  "store what is worth remembering with add_memory (infer: true extracts the facts).";

/** A tool's arguments checked by its contract schema, as the HTTP API checks a request body. */
const validators = new Map(
  MCP_TOOLS.map((t) => [t.name, bodyValidator<unknown>(t.inputSchema, "arguments")]),
);

/**
 * The validator the SDK's `Server` checks elicitation answers with (no tool here elicits). Left
 * out, every `Server` builds its own Ajv instance with formats, about 0.4 ms: once per POST on
 * /mcp, where a server is built per request.
 */
const SCHEMA_VALIDATOR = new AjvJsonSchemaValidator();

function listing(tool: McpTool) {
  return {
    name: tool.name,
    title: tool.title,
    description: tool.description,
    inputSchema: tool.inputSchema as { type: "object" },
    annotations: {
      title: tool.title,
      readOnlyHint: tool.readOnly,
      destructiveHint: tool.name.startsWith("delete_"),
      openWorldHint: false,
    },
  };
}

function toolError(problem: ToolProblem): CallToolResult {
  const field = problem.field ? ` (field: ${problem.field})` : "";
  return {
    isError: true,
    content: [{ type: "text", text: `${problem.code}: ${problem.detail ?? "failed"}${field}` }],
    structuredContent: { ...problem },
  };
}

/**
 * The MCP server over one backend: tools/list (filtered by the caller's scopes) and tools/call.
 * A failing call (bad arguments, a missing scope, another tenant's id, a quota) is a tool error
 * (`isError: true`) carrying the problem's code and detail, never a protocol error, so the
 * model sees why and can correct itself; only an unknown tool name is a protocol error (the MCP
 * specification's "invalid params").
 */
export function createMcpServer(opts: McpServerOptions): Server {
  const tools = MCP_TOOLS.filter((t) => opts.agents || !t.agents);
  const lacking = (tool: McpTool) => (opts.scopes ? missingScope(tool, opts.scopes) : undefined);
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: {} },
    instructions: INSTRUCTIONS,
    jsonSchemaValidator: SCHEMA_VALIDATOR,
  });

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: tools.filter((t) => lacking(t) === undefined).map(listing),
  }));

  server.setRequestHandler(CallToolRequestSchema, async (request): Promise<CallToolResult> => {
    const tool = tools.find((t) => t.name === request.params.name);
    const validate = validators.get(request.params.name);
    if (!tool || !validate) {
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    }
    try {
      const input = validate(request.params.arguments ?? {});
      const scope = lacking(tool);
      if (scope) throw new AppError("forbidden", `This API key lacks the "${scope}" scope`);
      const result = await tool.call(opts.backend, input);
      return {
        content: [{ type: "text", text: JSON.stringify(result) }],
        structuredContent: result as Record<string, unknown>,
      };
    } catch (err) {
      return toolError(opts.problemOf(err));
    }
  });
  return server;
}
