import assert from "node:assert/strict";
import { type AddressInfo, createServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { AddMemoryBody, ChatBody, type Scope, SearchMemoriesBody } from "@engram/contract";
import type { EngramClient } from "@engram/sdk";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { runProcess } from "../testing/run-process.ts";
import {
  bareEngramEnv,
  ENGRAM_CLI,
  startTestServer,
  type TenantHandle,
  type TestServer,
} from "../testing/test-server.ts";

// The MCP server through the MCP SDK's own client, over both transports against one real server:
// Streamable HTTP at /mcp, and `engram mcp` as a child process speaking stdio and forwarding to
// the same server's HTTP API. Every tool is called; the results are compared with the HTTP API's.

const ALL_TOOLS = [
  "add_memory",
  "search_memories",
  "get_context",
  "list_memories",
  "delete_memory",
  "search_knowledge",
  "list_agents",
  "chat_with_agent",
];

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(() => srv.close());

type Transports = "http" | "stdio";

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
type Json = any;

interface Mcp {
  client: Client;
  /** The tool's structured result, failing the test on a tool error. */
  call(name: string, args: Record<string, unknown>): Promise<Json>;
  /** The tool error's problem, failing the test when the call succeeds. */
  fail(name: string, args: Record<string, unknown>): Promise<Json>;
  close(): Promise<void>;
}

async function connect(kind: Transports, key: string): Promise<Mcp> {
  const transport: Transport =
    kind === "http"
      ? new StreamableHTTPClientTransport(new URL("/mcp", srv.url), {
          requestInit: { headers: { authorization: `Bearer ${key}` } },
        })
      : new StdioClientTransport({
          command: process.execPath,
          args: [...ENGRAM_CLI, "mcp"],
          env: bareEngramEnv({ ENGRAM_URL: srv.url, ENGRAM_API_KEY: key }) as Record<
            string,
            string
          >,
          stderr: "pipe",
        });
  const client = new Client({ name: "engram-test", version: "1.0.0" });
  await client.connect(transport);
  const raw = async (name: string, args: Record<string, unknown>) => {
    const result = await client.callTool({ name, arguments: args });
    const content = result.content as { type: string; text: string }[];
    assert.equal(content[0]?.type, "text");
    return { result, text: content[0]?.text ?? "" };
  };
  return {
    client,
    async call(name, args) {
      const { result, text } = await raw(name, args);
      assert.notEqual(result.isError, true, `${name} failed: ${text}`);
      assert.deepEqual(JSON.parse(text), result.structuredContent);
      return result.structuredContent;
    },
    async fail(name, args) {
      const { result, text } = await raw(name, args);
      assert.equal(result.isError, true, `${name} succeeded: ${text}`);
      const problem = result.structuredContent as Json;
      // The text a model reads starts with the stable code, then the problem's detail.
      assert.ok(text.startsWith(`${problem.code}: ${problem.detail}`), text);
      return problem;
    },
    close: () => client.close(),
  };
}

/** A tenant with a document, ready for search, and an agent over it. */
async function tenantWithKnowledge(client: EngramClient) {
  const { job_id } = await client.knowledge.createDocument({
    filename: "returns.md",
    text: "# Returns\n\nUnworn shoes can be returned within 30 days for a full refund.",
  });
  const job = await client.knowledge.waitForJob(job_id, { timeoutMs: 90_000 });
  assert.equal(job.state, "completed");
  return client.agents.createAgent({ name: "Support", instructions: "Answer from the documents." });
}

for (const kind of ["http", "stdio"] as const) {
  describe(`MCP over ${kind === "http" ? "Streamable HTTP (/mcp)" : "stdio (engram mcp)"}`, () => {
    let a: TenantHandle;
    let b: TenantHandle;
    let mcp: Mcp;
    let agentId: string;
    before(async () => {
      a = await srv.newTenant();
      b = await srv.newTenant();
      agentId = (await tenantWithKnowledge(a.client)).id;
      mcp = await connect(kind, a.key);
    });
    after(() => mcp.close());

    test("every tool is listed, its input schema the contract's", async () => {
      const { tools } = await mcp.client.listTools();
      assert.deepEqual(
        tools.map((t) => t.name),
        ALL_TOOLS,
      );
      const byName = new Map(tools.map((t) => [t.name, t]));
      const plain = (schema: object) => JSON.parse(JSON.stringify(schema));
      assert.deepEqual(byName.get("add_memory")?.inputSchema, plain(AddMemoryBody));
      assert.deepEqual(byName.get("search_memories")?.inputSchema, plain(SearchMemoriesBody));
      const chat = byName.get("chat_with_agent")?.inputSchema as Json;
      assert.deepEqual(Object.keys(chat.properties), [
        "agent_id",
        ...Object.keys(ChatBody.properties).filter((k) => k !== "stream"),
      ]);
      assert.equal(byName.get("search_memories")?.annotations?.readOnlyHint, true);
      assert.equal(byName.get("delete_memory")?.annotations?.destructiveHint, true);
    });

    test("each tool does what its HTTP call does, for the caller's tenant", async () => {
      const user_id = `u-${kind}`;
      const added = await mcp.call("add_memory", {
        text: "Alice is allergic to peanuts",
        user_id,
      });
      assert.equal(added.results[0].event, "ADD");
      const id: string = added.results[0].id;
      assert.equal((await a.client.getMemory(id)).memory, "Alice is allergic to peanuts");

      // infer: true extracts facts from a conversation.
      const inferred = await mcp.call("add_memory", {
        messages: [{ role: "user", content: "I moved to Lisbon last year. I love sailing." }],
        user_id,
        infer: true,
      });
      assert.ok(inferred.results.length >= 1, JSON.stringify(inferred));
      assert.ok(inferred.results.every((r: Json) => r.event === "ADD"));

      const query = { query: "what is Alice allergic to?", user_id };
      const found = await mcp.call("search_memories", query);
      assert.equal(found.results[0].id, id);
      const viaHttp = await a.client.searchMemories(query);
      assert.deepEqual(
        found.results.map((h: Json) => h.id),
        viaHttp.results.map((h) => h.id),
      );

      const context = await mcp.call("get_context", { ...query, include: ["memories"] });
      assert.match(context.context, /allergic to peanuts/);

      const listed = await mcp.call("list_memories", { user_id, limit: 50 });
      assert.ok(listed.results.some((m: Json) => m.id === id));
      assert.equal(listed.results.length, 1 + inferred.results.length);

      const knowledge = await mcp.call("search_knowledge", { query: "refund for shoes" });
      assert.match(knowledge.results[0].text, /30 days/);

      const agents = await mcp.call("list_agents", {});
      assert.deepEqual(
        agents.results.map((x: Json) => x.id),
        [agentId],
      );
      const answer = await mcp.call("chat_with_agent", {
        agent_id: agentId,
        message: "Can I return shoes?",
        user_id,
      });
      assert.match(answer.conversation_id, /^cnv_/);
      assert.match(answer.text, /30 days/);
      assert.ok(answer.citations.length >= 1);
      const again = await mcp.call("chat_with_agent", {
        agent_id: agentId,
        message: "And for how long?",
        conversation_id: answer.conversation_id,
      });
      assert.equal(again.conversation_id, answer.conversation_id);

      assert.deepEqual(await mcp.call("delete_memory", { id }), { id, deleted: true });
      const gone = await mcp.fail("delete_memory", { id });
      assert.equal(gone.code, "not_found");
    });

    test("bad arguments are tool errors naming the field, and the session goes on", async () => {
      const cases: [string, Record<string, unknown>, string, RegExp][] = [
        ["add_memory", { text: 5 }, "text", /must be string/],
        ["search_memories", {}, "query", /"query" is required/],
        ["list_memories", { limit: 1000 }, "limit", /must be <= 100/],
        ["get_context", { query: "x", colour: "red" }, "colour", /Unknown field "colour"/],
        ["delete_memory", {}, "id", /"id" is required/],
        ["chat_with_agent", { agent_id: agentId, message: "" }, "message", /fewer than 1/],
      ];
      for (const [name, args, field, detail] of cases) {
        const problem = await mcp.fail(name, args);
        assert.equal(problem.code, "validation_failed", name);
        assert.equal(problem.field, field, name);
        assert.match(problem.detail, detail, name);
      }
      // Problems the service finds, past the schema, come back the same way.
      const filters = { price: { between: [1, 2] } };
      const filter = await mcp.fail("search_memories", { query: "x", filters });
      assert.equal(filter.code, "invalid_filter");
      assert.equal(filter.field, "filters.price.between");
      // An unknown tool is the protocol's "invalid params", as the MCP specification says.
      await assert.rejects(mcp.client.callTool({ name: "drop_tables", arguments: {} }), (err) => {
        assert.match(String(err), /Unknown tool: drop_tables/);
        return true;
      });
      assert.equal((await mcp.call("list_memories", {})).results.length >= 0, true);
    });

    test("another tenant's ids are not found, and nothing of theirs changes", async () => {
      const theirs = await a.client.addMemory({ text: "Bob prefers tea", user_id: "bob" });
      const id = theirs.results[0]?.id as string;
      const other = await connect(kind, b.key);
      try {
        assert.equal((await other.fail("delete_memory", { id })).code, "not_found");
        const chat = await other.fail("chat_with_agent", { agent_id: agentId, message: "hi" });
        assert.equal(chat.code, "not_found");
        const found = await other.call("search_memories", { query: "tea", user_id: "bob" });
        assert.deepEqual(found.results, []);
        assert.deepEqual((await other.call("list_agents", {})).results, []);
      } finally {
        await other.close();
      }
      assert.equal((await a.client.getMemory(id)).memory, "Bob prefers tea");
    });

    test("a key without a scope cannot use the tools that need it", async () => {
      const readOnly = await srv.admin.createKey(a.tenantId, {
        scopes: ["memories:read"] satisfies Scope[],
      });
      const limited = await connect(kind, readOnly.key);
      try {
        const names = (await limited.client.listTools()).tools.map((t) => t.name);
        // Over HTTP the server knows the key's scopes and lists only what it may call; `engram
        // mcp` cannot ask (no API gives a key its scopes), so it lists all and the API refuses.
        assert.deepEqual(
          names,
          kind === "http" ? ["search_memories", "get_context", "list_memories"] : ALL_TOOLS,
        );
        const refused = await limited.fail("add_memory", { text: "x", user_id: "u" });
        assert.equal(refused.code, "forbidden");
        assert.match(refused.detail, /memories:write/);
        const chat = await limited.fail("chat_with_agent", { agent_id: agentId, message: "hi" });
        assert.equal(chat.code, "forbidden");
        await limited.call("list_memories", {});
      } finally {
        await limited.close();
      }
    });
  });
}

describe("MCP endpoints and the engram mcp command refuse what they cannot serve", () => {
  test("/mcp needs an API key, and takes POST only (stateless)", async () => {
    const init = { jsonrpc: "2.0", id: 1, method: "tools/list" };
    const res = await fetch(new URL("/mcp", srv.url), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify(init),
    });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as Json).code, "unauthenticated");
    for (const method of ["GET", "DELETE"]) {
      const res = await fetch(new URL("/mcp", srv.url), { method });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get("allow"), "POST");
      assert.equal(((await res.json()) as Json).code, "method_not_allowed");
    }
  });

  test("/mcp checks each POST as the Streamable HTTP transport specifies", async () => {
    const { key } = await srv.newTenant();
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(new URL("/mcp", srv.url), {
        method: "POST",
        headers: {
          authorization: `Bearer ${key}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...headers,
        },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
    /** The JSON-RPC error without an id that a refused POST carries, and its status. */
    const refused = async (res: Response) => {
      const body = (await res.json()) as Json;
      assert.equal(body.jsonrpc, "2.0");
      assert.equal(body.id, null);
      return { status: res.status, code: body.error.code, message: body.error.message };
    };
    const list = { jsonrpc: "2.0", id: 1, method: "tools/list" };
    const call = (id: number) => ({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: { name: "list_memories", arguments: { limit: 1 } },
    });

    // One request: one JSON response, with the request id every answer of this server has.
    const one = await post(list);
    assert.equal(one.status, 200);
    assert.match(one.headers.get("content-type") ?? "", /^application\/json/);
    assert.match(one.headers.get("x-request-id") ?? "", /^req_/);
    const listed = (await one.json()) as Json;
    assert.equal(listed.id, 1);
    assert.ok(listed.result.tools.some((t: Json) => t.name === "list_memories"));

    // A batch is answered with an array, in the order of its requests, notifications left out.
    const initialized = { jsonrpc: "2.0", method: "notifications/initialized" };
    const batch = await post([call(7), initialized, list]);
    assert.equal(batch.status, 200);
    const answers = (await batch.json()) as Json[];
    assert.deepEqual(
      answers.map((a) => a.id),
      [7, 1],
    );
    assert.deepEqual(answers[0].result.structuredContent.results, []);
    const single = (await (await post([list])).json()) as Json;
    assert.ok(Array.isArray(single) && single.length === 1, JSON.stringify(single));

    // Notifications alone: accepted, nothing to answer.
    const accepted = await post(initialized);
    assert.equal(accepted.status, 202);
    assert.equal(await accepted.text(), "");

    // What the transport refuses, with the SDK transport's statuses and JSON-RPC codes.
    assert.deepEqual(await refused(await post(list, { accept: "application/json" })), {
      status: 406,
      code: -32000,
      message: "Not Acceptable: Client must accept both application/json and text/event-stream",
    });
    const version = await refused(await post(list, { "mcp-protocol-version": "1999-01-01" }));
    assert.equal(version.status, 400);
    assert.match(version.message, /Unsupported protocol version: 1999-01-01/);
    const notRpc = await refused(await post({ hello: "world" }));
    assert.deepEqual([notRpc.status, notRpc.code], [400, -32700]);
    const empty = await refused(await post(""));
    assert.deepEqual([empty.status, empty.code], [400, -32700]);
    const tooMany = await refused(await post(Array.from({ length: 101 }, (_, i) => call(i))));
    assert.deepEqual([tooMany.status, tooMany.code], [400, -32600]);
    const init = {
      jsonrpc: "2.0",
      id: 2,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "raw", version: "1" },
      },
    };
    const twoInits = await refused(await post([init, list]));
    assert.deepEqual([twoInits.status, twoInits.code], [400, -32600]);
    // initialize alone, its version in the body: the server's answer.
    const initialize = (await (await post(init)).json()) as Json;
    assert.equal(initialize.result.serverInfo.name, "engram");
    // Not JSON: the API's own 415 problem, before the transport sees it.
    const text = await post("hi", { "content-type": "text/plain" });
    assert.equal(text.status, 415);
    assert.equal(((await text.json()) as Json).code, "unsupported_media_type");
  });

  test("engram mcp with its server down answers tool calls with service_unavailable", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const client = new Client({ name: "engram-test", version: "1.0.0" });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [...ENGRAM_CLI, "mcp", "--url", `http://127.0.0.1:${port}`],
        env: bareEngramEnv({ ENGRAM_API_KEY: "egm_unused" }) as Record<string, string>,
        stderr: "pipe",
      }),
    );
    try {
      const result = await client.callTool({ name: "list_memories", arguments: {} });
      assert.equal(result.isError, true);
      assert.equal((result.structuredContent as Json).code, "service_unavailable");
      assert.match(JSON.stringify(result.content), /did not answer/);
    } finally {
      await client.close();
    }
  });

  test("engram mcp without ENGRAM_API_KEY or with a bad URL says which and exits 2", async () => {
    const run = (env: Record<string, string>, args: string[] = []) =>
      runProcess(process.execPath, [...ENGRAM_CLI, "mcp", ...args], {
        env: bareEngramEnv(env),
        timeoutMs: 60_000,
      });
    const noKey = await run({ ENGRAM_URL: srv.url });
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /engram mcp: set ENGRAM_API_KEY/);
    assert.equal(noKey.stdout, "");
    const badUrl = await run({ ENGRAM_API_KEY: "egm_x" }, ["--url", "ftp://example.com"]);
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.stderr, /--url must be an http\(s\) URL/);
  });
});
