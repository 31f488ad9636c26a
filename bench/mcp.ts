// `npm run bench:mcp`: an MCP tool call against the HTTP call it wraps, in the same run, on one
// `engram serve` child process: the SDK's HTTP call (the baseline), the same operation as a tool
// over Streamable HTTP (/mcp, the MCP SDK's client) and over stdio (`engram mcp` as a child
// process, which itself calls the HTTP API), plus three diagnostic ways: the tool call as a bare
// JSON-RPC POST to /mcp (fetch and JSON.parse, as the baseline's SDK does), which tells the
// server's share of the MCP overhead from the MCP client's; likewise the tool call as a bare
// JSON-RPC line to a second `engram mcp`; and that line to a bare forwarder (no MCP SDK), the
// floor of the stdio hop. Calls are interleaved, one at a time, so all ways see the same server
// state and machine load. Writes RESULTS-mcp.md.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { EngramAdminClient, EngramClient } from "@engram/sdk";
import {
  ADMIN_TOKEN,
  bareEngramEnv,
  ENGRAM_CLI,
  freePort,
  spawnServer,
} from "@engram/server/testing";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";
import { describeCommit } from "./lib/commit.ts";
import { ms, percentile } from "./lib/stats.ts";

const { values: args } = parseArgs({
  options: { n: { type: "string", default: "300" }, memories: { type: "string", default: "500" } },
});
const N = Number(args.n);
const MEMORIES = Number(args.memories);
const log = (...a: unknown[]) => console.error(new Date().toISOString().slice(11, 19), ...a);

const USER = "bench-user";
/** Repeated queries: their embeddings are cached, so the search itself is small next to I/O. */
const QUERIES = Array.from({ length: 20 }, (_, i) => `what does the user think about topic ${i}?`);

type Way = "http" | "mcpHttp" | "mcpStdio" | "rpcPost" | "rpcLine" | "floorLine";
const WAYS: Way[] = ["http", "mcpHttp", "mcpStdio", "rpcPost", "rpcLine", "floorLine"];
const LABEL: Record<Way, string> = {
  http: "HTTP API (SDK), the baseline",
  mcpHttp: "MCP tool, Streamable HTTP (/mcp)",
  mcpStdio: "MCP tool, stdio (`engram mcp`)",
  rpcPost: "diagnostic: the tool call as a bare JSON-RPC POST to /mcp, no MCP client",
  rpcLine: "diagnostic: the tool call as a bare JSON-RPC line to `engram mcp`, no MCP client",
  floorLine: "floor: the same line to a bare forwarder process (bench/lib/stdio-forwarder.ts)",
};
/** The bare forwarder: the floor of any stdio process that forwards to the HTTP API. */
const FORWARDER = [
  "--conditions=@engram/source",
  "--import",
  "tsx",
  fileURLToPath(new URL("./lib/stdio-forwarder.ts", import.meta.url)),
];

interface Operation {
  name: string;
  tool: string;
  args: (i: number) => Record<string, unknown>;
  http: (client: EngramClient, args: Record<string, unknown>) => Promise<unknown>;
}

const OPERATIONS: Operation[] = [
  {
    name: "search memories (cached query embedding)",
    tool: "search_memories",
    args: (i) => ({ query: QUERIES[i % QUERIES.length], user_id: USER, limit: 10 }),
    http: (c, a) => c.searchMemories(a as Parameters<EngramClient["searchMemories"]>[0]),
  },
  {
    name: "list memories (20, no embedding)",
    tool: "list_memories",
    args: () => ({ user_id: USER, limit: 20 }),
    http: (c, a) => c.listMemories(a),
  },
];

async function callTool(client: Client, name: string, toolArgs: Record<string, unknown>) {
  const result = await client.callTool({ name, arguments: toolArgs });
  if (result.isError) throw new Error(`${name}: ${JSON.stringify(result.content)}`);
}

/**
 * The tool call as one JSON-RPC POST, with the headers an MCP client sends, decoded as the
 * baseline's SDK decodes its answer (text, then JSON.parse): what /mcp costs without the client.
 */
async function rpcToolCall(url: URL, key: string, id: number, name: string, args: object) {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      authorization: `Bearer ${key}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": LATEST_PROTOCOL_VERSION,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: { name, arguments: args },
    }),
  });
  const text = await res.text();
  const body = JSON.parse(text) as { result?: { isError?: boolean } };
  if (!res.ok || !body.result || body.result.isError) throw new Error(`${name}: ${text}`);
}

/**
 * A process started with `args` (a second `engram mcp`, or the bare forwarder) driven with bare
 * JSON-RPC lines (write a line, read the answer's line, JSON.parse): what the stdio way costs
 * without the MCP client, as the bare POST is for /mcp.
 */
async function lineClient(args: string[], env: NodeJS.ProcessEnv) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, args, { env });
  child.stderr.pipe(process.stderr);
  const waiting = new Map<number, (answer: { result?: { isError?: boolean } }) => void>();
  createInterface({ input: child.stdout }).on("line", (line) => {
    const answer = JSON.parse(line) as { id: number; result?: { isError?: boolean } };
    waiting.get(answer.id)?.(answer);
    waiting.delete(answer.id);
  });
  let last = 0;
  const request = (method: string, params: object) =>
    new Promise<{ result?: { isError?: boolean } }>((resolve) => {
      const id = ++last;
      waiting.set(id, resolve);
      child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id, method, params })}\n`);
    });
  await request("initialize", {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: "bench", version: "1.0.0" },
  });
  child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
  return {
    async call(name: string, args: object) {
      const answer = await request("tools/call", { name, arguments: args });
      if (!answer.result || answer.result.isError)
        throw new Error(`${name}: ${JSON.stringify(answer)}`);
    },
    async close() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.stdin.end();
      await exited;
    },
  };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "engram-mcp-bench-"));
  const server = await spawnServer(dir, await freePort(), { ENGRAM_RATE_LIMITS: "off" });
  const clients: { close(): Promise<void> }[] = [];
  try {
    const admin = new EngramAdminClient({ baseUrl: server.url, token: ADMIN_TOKEN });
    const key = (await admin.createTenant({ name: "mcp-bench" })).key.key;
    const http = new EngramClient({ baseUrl: server.url, token: key, timeoutMs: 120_000 });
    log(`seeding ${MEMORIES} memories`);
    for (let i = 0; i < MEMORIES; i += 250) {
      const memories = Array.from({ length: Math.min(250, MEMORIES - i) }, (_, j) => ({
        text: `Memory ${i + j}: the user has an opinion about topic ${(i + j) % 40}`,
        user_id: USER,
      }));
      await http.batchAddMemories({ memories });
    }

    const mcpHttp = new Client({ name: "bench", version: "1.0.0" });
    await mcpHttp.connect(
      new StreamableHTTPClientTransport(new URL("/mcp", server.url), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    clients.push(mcpHttp);
    const stdioEnv = bareEngramEnv({ ENGRAM_URL: server.url, ENGRAM_API_KEY: key });
    const mcpStdio = new Client({ name: "bench", version: "1.0.0" });
    await mcpStdio.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [...ENGRAM_CLI, "mcp"],
        env: stdioEnv as Record<string, string>,
      }),
    );
    clients.push(mcpStdio);
    const lines = await lineClient([...ENGRAM_CLI, "mcp"], stdioEnv);
    clients.push(lines);
    const floor = await lineClient(FORWARDER, stdioEnv);
    clients.push(floor);

    const results: { op: string; samples: Record<Way, number[]> }[] = [];
    for (const op of OPERATIONS) {
      const call: Record<Way, (i: number) => Promise<unknown>> = {
        http: (i) => op.http(http, op.args(i)),
        mcpHttp: (i) => callTool(mcpHttp, op.tool, op.args(i)),
        mcpStdio: (i) => callTool(mcpStdio, op.tool, op.args(i)),
        rpcPost: (i) => rpcToolCall(new URL("/mcp", server.url), key, i, op.tool, op.args(i)),
        rpcLine: (i) => lines.call(op.tool, op.args(i)),
        floorLine: (i) => floor.call(op.tool, op.args(i)),
      };
      // Warm-up: embeddings of the queries cached, connections open, code paths compiled.
      for (let i = 0; i < QUERIES.length; i++) for (const way of WAYS) await call[way](i);
      const samples = Object.fromEntries(WAYS.map((way) => [way, [] as number[]])) as Record<
        Way,
        number[]
      >;
      log(`${op.name}: ${N} calls each way`);
      for (let i = 0; i < N; i++) {
        // Rotated order, so no way always runs right after another.
        for (let k = 0; k < WAYS.length; k++) {
          const way = WAYS[(i + k) % WAYS.length] as Way;
          const t = performance.now();
          await call[way](i);
          samples[way].push(performance.now() - t);
        }
      }
      results.push({ op: op.name, samples });
    }
    const commit = await describeCommit();
    writeFileSync(new URL("./RESULTS-mcp.md", import.meta.url), report(results, commit));
    log("wrote bench/RESULTS-mcp.md");
  } finally {
    for (const c of clients) await c.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(results: { op: string; samples: Record<Way, number[]> }[], commit: string) {
  const lines = [
    "# MCP tool-call latency against the HTTP call it wraps",
    "",
    `Commit ${commit}, ${new Date().toISOString().slice(0, 10)}. Machine: ${cpus().length} × ${
      cpus()[0]?.model ?? "unknown CPU"
    }, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}.`,
    "",
    `\`npm run bench:mcp -- --n ${N} --memories ${MEMORIES}\`: one \`engram serve\` (embedded), one`,
    "tenant with that many memories of one user; each operation called N times each way, one call",
    "at a time, the ways interleaved. Ratio: p50 against the HTTP call's p50 (aim ≤ 1.2× for the",
    "two MCP ways). The two bare JSON-RPC ways are diagnostics, not ways a host calls: the MCP",
    "client (`@modelcontextprotocol/sdk`'s `Client`) left out, over /mcp and over `engram mcp`.",
    "",
    "What bounds each number: the HTTP call is one round trip to the server (the service verb on",
    "the embedded PGlite, the response serialised, `fetch` and `JSON.parse` in the SDK). The",
    "Streamable HTTP tool call is that round trip plus the server's MCP work (the POST's checks, a",
    "per-request MCP `Server`, the SDK's zod parsing of message, request and result, the",
    "arguments' Ajv check) and an answer about twice the size (the result as `structuredContent`",
    "and again as text, as the specification asks), plus the MCP client's own work (zod parsing of",
    "the answer, JSON-RPC bookkeeping): the bare POST separates the two. The stdio tool call adds a",
    "process: the client writes to `engram mcp`'s stdin, which makes the baseline's HTTP call and",
    "writes back, so every call wakes two more processes than the baseline (three busy processes",
    "on a 2-core machine) and its answer is written, read and parsed once more; the bare line",
    "separates `engram mcp` and its hop from the MCP client's work, and the bare forwarder (a line",
    "in, the same SDK call, a line of the same shape out, no MCP SDK) is the floor of that hop: what",
    "any stdio server that forwards to the HTTP API pays. The split of the overhead under",
    "each table is p50 minus p50: on the search, tens of milliseconds, it is within a run's noise.",
    "",
  ];
  for (const { op, samples } of results) {
    const p50 = (way: Way) => percentile(samples[way], 50);
    const base = p50("http");
    lines.push(
      `## ${op}`,
      "",
      "| Way | p50 ms | p99 ms | p50 ratio |",
      "| --- | ---: | ---: | ---: |",
    );
    for (const way of WAYS) {
      lines.push(
        `| ${LABEL[way]} | ${ms(p50(way))} | ${ms(percentile(samples[way], 99))} | ${(p50(way) / base).toFixed(2)}× |`,
      );
    }
    lines.push(
      "",
      `Over the baseline's p50, Streamable HTTP: ${(p50("rpcPost") - base).toFixed(2)} ms on the server's`,
      `side (bare POST − HTTP), ${(p50("mcpHttp") - p50("rpcPost")).toFixed(2)} ms in the MCP client`,
      `(tool call − bare POST); stdio: ${(p50("rpcLine") - base).toFixed(2)} ms in \`engram mcp\` and`,
      `its extra hop (bare line − HTTP), of which ${(p50("floorLine") - base).toFixed(2)} ms any forwarding process costs (floor − HTTP),`,
      `${(p50("mcpStdio") - p50("rpcLine")).toFixed(2)} ms in the MCP client (tool call − bare line).`,
      `Aim (p50 ≤ 1.2× the HTTP call): ${(["mcpHttp", "mcpStdio"] as const)
        .map((way) => {
          const ratio = p50(way) / base;
          return `${ratio <= 1.2 ? "met" : "missed"} over ${way === "mcpHttp" ? "Streamable HTTP" : "stdio"} (${ratio.toFixed(2)}×)`;
        })
        .join(", ")}.`,
      "",
    );
  }
  return `${lines.join("\n")}\n`;
}

await main();
