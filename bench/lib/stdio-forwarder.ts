// The floor under `engram mcp` for bench:mcp: a process that reads JSON-RPC lines on stdin,
// makes the same SDK call `engram mcp` makes for the two benchmarked tools, and writes an answer
// of the same shape (the result as text and as structuredContent) on stdout. No MCP SDK, no
// checks: what one more process on the path costs by itself.
import { createInterface } from "node:readline";
import { EngramClient } from "@engram/sdk";

const url = process.env.ENGRAM_URL;
const token = process.env.ENGRAM_API_KEY;
if (!url || !token) throw new Error("set ENGRAM_URL and ENGRAM_API_KEY");
const client = new EngramClient({ baseUrl: url, token });
const calls: Record<string, (args: never) => Promise<object>> = {
  list_memories: (args) => client.listMemories(args),
  search_memories: (args) => client.searchMemories(args),
};

createInterface({ input: process.stdin }).on("line", async (line) => {
  const message = JSON.parse(line) as {
    id?: number;
    method: string;
    params?: { name: string; arguments: never };
  };
  if (message.id === undefined) return;
  const call = message.params && calls[message.params.name];
  const result = call ? await call(message.params?.arguments as never) : undefined;
  const answer = result
    ? { content: [{ type: "text", text: JSON.stringify(result) }], structuredContent: result }
    : {};
  process.stdout.write(`${JSON.stringify({ jsonrpc: "2.0", id: message.id, result: answer })}\n`);
});
