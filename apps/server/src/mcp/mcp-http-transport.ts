import type { IncomingHttpHeaders } from "node:http";
import { MAX_BATCH_SIZE } from "@modelcontextprotocol/sdk/server/requestBody.js";
import { isJsonContentType } from "@modelcontextprotocol/sdk/shared/mediaType.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  type JSONRPCMessage,
  JSONRPCMessageSchema,
  type JSONRPCRequest,
  type MessageExtraInfo,
  type RequestId,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/sdk/types.js";

/** What a POST to /mcp is answered with: an HTTP status and its JSON body (none: no body). */
export interface McpHttpAnswer {
  status: number;
  body?: unknown;
}

/** A POST's JSON-RPC messages, checked, and whether they came as a batch (answered as one). */
export interface McpPost {
  messages: JSONRPCMessage[];
  batch: boolean;
}

/**
 * A refusal as the SDK's Streamable HTTP transport words it: a JSON-RPC error without an id
 * (the specification: "the HTTP response body MAY comprise a JSON-RPC error response that has
 * no id").
 */
function refusal(status: number, code: number, message: string): McpHttpAnswer {
  return { status, body: { jsonrpc: "2.0", error: { code, message }, id: null } };
}

const isRequest = (m: JSONRPCMessage): m is JSONRPCRequest => "method" in m && "id" in m;

/**
 * A POST's headers and parsed body checked as the MCP specification (2025-11-25, Streamable HTTP)
 * and the SDK's own server transport check them, in the SDK's order and with its statuses and
 * words: Accept must list both application/json and text/event-stream (406), the body must be
 * JSON (415) holding one JSON-RPC message or a batch of at most 100 (400), an initialize request
 * comes alone, and an MCP-Protocol-Version header, when sent, must name a version the SDK
 * supports (400; initialize carries its version in the body instead).
 */
export function readMcpPost(headers: IncomingHttpHeaders, body: unknown): McpPost | McpHttpAnswer {
  const accept = headers.accept;
  if (!accept?.includes("application/json") || !accept.includes("text/event-stream")) {
    return refusal(
      406,
      -32000,
      "Not Acceptable: Client must accept both application/json and text/event-stream",
    );
  }
  if (!isJsonContentType(headers["content-type"])) {
    return refusal(415, -32000, "Unsupported Media Type: Content-Type must be application/json");
  }
  // Fastify parsed the body (http/app.ts); an empty one parses as none.
  if (body === undefined) return refusal(400, -32700, "Parse error: Invalid JSON");
  const batch = Array.isArray(body);
  if (batch && body.length > MAX_BATCH_SIZE) {
    return refusal(
      400,
      -32600,
      `Invalid Request: Batch must not exceed ${MAX_BATCH_SIZE} messages`,
    );
  }
  const parsed = (batch ? body : [body]).map((m) => JSONRPCMessageSchema.safeParse(m));
  const messages: JSONRPCMessage[] = [];
  for (const p of parsed) {
    if (!p.success) return refusal(400, -32700, "Parse error: Invalid JSON-RPC message");
    messages.push(p.data);
  }
  const initialize = messages.some((m) => isRequest(m) && m.method === "initialize");
  if (initialize && messages.length > 1) {
    return refusal(400, -32600, "Invalid Request: Only one initialization request is allowed");
  }
  const version = headers["mcp-protocol-version"];
  if (!initialize && version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(`${version}`)) {
    return refusal(
      400,
      -32000,
      `Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})`,
    );
  }
  return { messages, batch };
}

/**
 * The MCP SDK `Transport` for one stateless POST answered with JSON (ADR 0038): `exchange` hands
 * the POST's messages to the connected server and resolves with its responses to the requests
 * among them, in their order, once all are there (none: only notifications or responses were
 * posted, which the route answers with 202). There is no stream to carry anything else, so a
 * server-to-client request or notification is dropped, as the SDK's transport drops them in
 * JSON-response mode.
 */
export class JsonPostTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;
  /** The requests of this POST by id, each with its response once the server has sent it. */
  readonly #answers = new Map<RequestId, JSONRPCMessage | undefined>();
  #settle?: (responses: JSONRPCMessage[] | undefined) => void;
  #closed = false;

  async start() {}

  async send(message: JSONRPCMessage) {
    if ("method" in message) return;
    const { id } = message;
    if (id === undefined || !this.#answers.has(id)) {
      throw new Error(`No request ${String(id)} in this POST`);
    }
    this.#answers.set(id, message);
    const responses = [...this.#answers.values()];
    if (responses.every((r) => r !== undefined)) this.#settle?.(responses);
  }

  async close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#settle?.(undefined);
    this.onclose?.();
  }

  /** Delivers the messages; the responses to the requests, or undefined if closed before. */
  exchange(messages: JSONRPCMessage[], extra: MessageExtraInfo) {
    for (const m of messages) if (isRequest(m)) this.#answers.set(m.id, undefined);
    const answered = new Promise<JSONRPCMessage[] | undefined>((resolve) => {
      this.#settle = resolve;
    });
    for (const m of messages) this.onmessage?.(m, extra);
    return this.#answers.size === 0 ? Promise.resolve([]) : answered;
  }
}
