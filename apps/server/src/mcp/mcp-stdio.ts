import { EngramClient, EngramError } from "@engram/sdk";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { reasonOf } from "../cli/fail.ts";
import { problemOf } from "../http/problem.ts";
import { newId } from "../lib/ids.ts";
import { createMcpServer } from "./mcp-server.ts";
import type { McpBackend } from "./mcp-tools.ts";

export interface McpStdioOptions {
  /** The Engram server the tool calls go to (ENGRAM_URL or --url). */
  url: string;
  /** The tenant API key they are sent with (ENGRAM_API_KEY). */
  apiKey: string;
}

/**
 * `engram mcp`'s settings from its environment and options: the URL (--url, else ENGRAM_URL) and
 * the key (ENGRAM_API_KEY, never an argument, where other users' `ps` would show it). Throws an
 * Error naming the variable that is missing or wrong.
 */
export function mcpStdioOptions(
  env: Readonly<Record<string, string | undefined>>,
  url: string | undefined,
): McpStdioOptions {
  const base = url ?? env.ENGRAM_URL;
  if (!base) throw new Error("set ENGRAM_URL (or pass --url) to the Engram server's URL");
  if (!URL.canParse(base) || !/^https?:$/.test(new URL(base).protocol)) {
    throw new Error(`${url ? "--url" : "ENGRAM_URL"} must be an http(s) URL`);
  }
  const apiKey = env.ENGRAM_API_KEY;
  if (!apiKey) throw new Error("set ENGRAM_API_KEY to a tenant API key (egm_…)");
  return { url: base, apiKey };
}

/** The tools' backend for `engram mcp`: each call is the HTTP API's, through the SDK. */
function sdkBackend(client: EngramClient): McpBackend {
  return {
    addMemory: (input) => client.addMemory(input),
    searchMemories: (input) => client.searchMemories(input),
    getContext: (input) => client.context(input),
    listMemories: (input) => client.listMemories(input),
    deleteMemory: (id) => client.deleteMemory(id),
    searchKnowledge: (input) => client.knowledge.searchKnowledge(input),
    listAgents: (input) => client.agents.listAgents(input),
    chat: (agentId, input) => client.agents.chat(agentId, input),
  };
}

/**
 * `engram mcp`: MCP on stdin/stdout for hosts that start a process (Claude Desktop and the like),
 * forwarding each tool call to an Engram server with the API key. It needs no database and no
 * model. No API lets a key read its own scopes, so every tool is listed and the server's 403
 * comes back as the call's tool error (docs/mcp.md). stdout carries the protocol only: anything
 * for the operator goes to stderr.
 */
export async function runMcpStdio(opts: McpStdioOptions): Promise<void> {
  const client = new EngramClient({ baseUrl: opts.url, token: opts.apiKey });
  const server = createMcpServer({
    backend: sdkBackend(client),
    scopes: undefined,
    agents: true,
    problemOf: (err) => {
      if (err instanceof EngramError) return err.problem;
      // Arguments refused before any request (they never reach the server).
      const local = problemOf(newId("req"), err, () => "");
      if (local.code !== "internal_error") return local;
      // No answer from the server (down, wrong URL, timed out).
      process.stderr.write(`engram mcp: ${reasonOf(err)}\n`);
      return {
        code: "service_unavailable",
        detail: `Engram at ${opts.url} did not answer: ${reasonOf(err)}`,
      };
    },
  });
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = resolve;
  });
  await server.connect(transport);
  // The host ends the session by closing stdin.
  process.stdin.once("end", () => void server.close());
  await closed;
}
