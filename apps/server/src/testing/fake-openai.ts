import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { sendJson, startStandIn } from "./stand-in-server.ts";

/** One chat-completions request the fake received, as sent. */
export interface FakeChatRequest {
  model: string;
  messages: { role: string; content: string }[];
  response_format: unknown;
  /** response_format.json_schema.name: tells an extraction ("engram_extract") from a reconciliation. */
  schemaName: string | undefined;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export interface FakeUsage {
  prompt_tokens: number;
  completion_tokens: number;
}

/**
 * What the fake answers one request with:
 * - `{ content }`: 200 with that message content (an object is sent as its JSON text);
 * - `{ refusal }`: 200 with a structured-output refusal;
 * - `{ status, body?, headers? }`: that status (e.g. 429 with `{ "retry-after": "1" }`, or 500);
 * - `{ delayMs, reply? }`: waits, then answers `reply` (default: an empty JSON object as content);
 * - `"hang"`: never answers (the client's timeout must end it);
 * - `{ stream }`: a streamed answer (`text/event-stream`, see FakeStream), whatever was asked.
 * A `{ content }` reply to a request with `stream: true` is streamed too, a word per chunk.
 * `usage` defaults to 10 tokens in and 5 out; `null` leaves it out of the answer (a stream sends
 * it in a last chunk without choices when the request asked `stream_options.include_usage`).
 */
export type FakeReply =
  | { content: unknown; usage?: FakeUsage | null; model?: string }
  | FakeStream
  | { refusal: string; usage?: FakeUsage | null }
  | { status: number; body?: unknown; headers?: Record<string, string>; usage?: FakeUsage | null }
  | { delayMs: number; reply?: FakeReply }
  | "hang";

/**
 * A streamed answer, as OpenAI sends one: `data: {chunk}` events, then `data: [DONE]`.
 * - `parts`: a string is a content delta; `{ raw }` is sent as an event's data as is (a malformed
 *   chunk); `{ waitMs }` pauses the stream there.
 * - `chunkDelayMs`: a pause before each part (a slow model).
 * - `end`: `"done"` (default: finish_reason, usage, [DONE]), `"hang"` (stops sending, keeps the
 *   connection open: a stalled model), `"close"` (ends the connection without finishing).
 */
export interface FakeStream {
  stream: (string | { raw: string } | { waitMs: number })[];
  chunkDelayMs?: number;
  end?: "done" | "hang" | "close";
  usage?: FakeUsage | null;
  model?: string;
}

export type FakeHandler = (request: FakeChatRequest) => FakeReply | Promise<FakeReply>;

export interface FakeOpenAIOptions {
  /** Answers requests the queue has no reply for (default: 500 "no scripted reply"). */
  handler?: FakeHandler;
  /** When set, requests without `Authorization: Bearer <apiKey>` get a 401 echoing what was sent. */
  apiKey?: string;
}

export interface FakeOpenAI {
  /** The API root to configure, e.g. http://127.0.0.1:PORT/v1. */
  baseUrl: string;
  /** Every chat-completions request received, in order. */
  requests: FakeChatRequest[];
  /** Replies for the next requests, before the handler is asked. */
  enqueue(...replies: FakeReply[]): void;
  setHandler(handler: FakeHandler | undefined): void;
  /** Forgets the requests and the queued replies. */
  reset(): void;
  close(): Promise<void>;
}

const DEFAULT_USAGE: FakeUsage = { prompt_tokens: 10, completion_tokens: 5 };

/**
 * A local server speaking the OpenAI chat-completions wire protocol (`POST /v1/chat/completions`),
 * scripted per request, for tests of the LLM inference engine and of chat (streamed answers). Listens on a free loopback port.
 */
export async function startFakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const requests: FakeChatRequest[] = [];
  const queue: FakeReply[] = [];
  let handler = opts.handler;

  const server = await startStandIn(async (req, res, { text, wait }) => {
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) =>
      sendJson(res, status, JSON.stringify(payload), headers);
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      return send(404, { error: { message: `no route ${req.method} ${req.url}` } });
    }
    if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      // Some compatible servers echo the key back; the client must not pass it on.
      const message = `Incorrect API key provided: ${req.headers.authorization?.slice(7)}`;
      return send(401, { error: { message, type: "invalid_request_error" } });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return send(400, { error: { message: "the body is not JSON" } });
    }
    const format = body.response_format as { json_schema?: { name?: unknown } } | undefined;
    const name = format?.json_schema?.name;
    const request: FakeChatRequest = {
      model: String(body.model),
      messages: (body.messages ?? []) as FakeChatRequest["messages"],
      response_format: body.response_format,
      schemaName: typeof name === "string" ? name : undefined,
      headers: req.headers,
      body,
    };
    requests.push(request);
    let reply: FakeReply | undefined = queue.shift();
    try {
      reply ??= handler ? await handler(request) : undefined;
    } catch (err) {
      return send(500, { error: { message: `fake handler threw: ${String(err)}` } });
    }
    if (reply === undefined) return send(500, { error: { message: "no scripted reply" } });
    for (;;) {
      if (reply === "hang") return;
      if (!("delayMs" in reply)) break;
      await wait(reply.delayMs);
      reply = reply.reply ?? { content: {} };
    }
    if (body.stream === true && "content" in reply && typeof reply.content === "string") {
      reply = {
        stream: reply.content.split(/(?<= )/),
        ...(reply.usage !== undefined ? { usage: reply.usage } : {}),
        ...(reply.model ? { model: reply.model } : {}),
      };
    }
    if ("stream" in reply) return streamReply(res, reply, request, wait);
    const usage = reply.usage === undefined ? DEFAULT_USAGE : reply.usage;
    const withUsage = (payload: Record<string, unknown>) =>
      usage === null
        ? payload
        : {
            ...payload,
            usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
          };
    if ("status" in reply) {
      const payload = reply.body ?? { error: { message: `scripted status ${reply.status}` } };
      const isObject = typeof payload === "object" && payload !== null;
      return send(
        reply.status,
        isObject ? withUsage(payload as Record<string, unknown>) : payload,
        reply.headers,
      );
    }
    const message =
      "refusal" in reply
        ? { role: "assistant", content: null, refusal: reply.refusal }
        : {
            role: "assistant",
            content:
              typeof reply.content === "string" ? reply.content : JSON.stringify(reply.content),
            refusal: null,
          };
    send(
      200,
      withUsage({
        id: `chatcmpl-fake-${requests.length}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: "model" in reply && reply.model ? reply.model : request.model,
        choices: [{ index: 0, message, finish_reason: "stop" }],
      }),
    );
  });
  return {
    baseUrl: `${server.root}/v1`,
    requests,
    enqueue: (...replies) => void queue.push(...replies),
    setHandler(next) {
      handler = next;
    },
    reset() {
      requests.length = 0;
      queue.length = 0;
    },
    close: () => server.close(),
  };
}

/** Sends a FakeStream as OpenAI's chat-completion chunks over server-sent events. */
async function streamReply(
  res: ServerResponse,
  reply: FakeStream,
  request: FakeChatRequest,
  wait: (ms: number) => Promise<void>,
): Promise<void> {
  if (res.destroyed) return;
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const id = `chatcmpl-fake-stream-${Date.now()}`;
  const model = reply.model ?? request.model;
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({ id, object: "chat.completion.chunk", created: 0, model, choices, ...extra });
  const send = (data: string) => {
    if (!res.destroyed) res.write(`data: ${data}\n\n`);
  };
  send(chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]));
  for (const part of reply.stream) {
    if (reply.chunkDelayMs) await wait(reply.chunkDelayMs);
    if (res.destroyed) return;
    if (typeof part === "string") {
      send(chunk([{ index: 0, delta: { content: part }, finish_reason: null }]));
    } else if ("raw" in part) {
      send(part.raw);
    } else {
      await wait(part.waitMs);
    }
  }
  if (reply.end === "hang") return;
  if (reply.end === "close") {
    // After what was written has reached the client: a cut mid-answer, not before it.
    await wait(50);
    res.destroy();
    return;
  }
  send(chunk([{ index: 0, delta: {}, finish_reason: "stop" }]));
  const usage = reply.usage === undefined ? DEFAULT_USAGE : reply.usage;
  const options = request.body.stream_options as { include_usage?: unknown } | undefined;
  if (usage !== null && options?.include_usage === true) {
    const total = usage.prompt_tokens + usage.completion_tokens;
    send(chunk([], { usage: { ...usage, total_tokens: total } }));
  }
  send("[DONE]");
  res.end();
}

/** The JSON the first user message of a request carries (the engine sends its input as JSON). */
export function fakeRequestInput(request: FakeChatRequest): unknown {
  const input = request.messages.find((m) => m.role === "user");
  return input ? JSON.parse(input.content) : undefined;
}

/** An entity as the model writes it (extract.v2); aliases default to []. */
export interface FakeEntity {
  name: string;
  type: "person" | "place" | "organization" | "product" | "date" | "event" | "other";
  aliases?: string[];
}

/** A relation as the model writes it (extract.v2); dates default to null. */
export interface FakeRelation {
  subject: string;
  predicate: string;
  object: string;
  valid_from?: string | null;
  valid_to?: string | null;
}

/**
 * A fact as the model writes it; what is left out gets the plain default. An entity given as a
 * bare name is typed `other`.
 */
export interface FakeFact {
  text: string;
  source_indexes?: number[];
  valid_from?: string | null;
  attribute?: { subject: string; key: string; value: string } | null;
  negates?: boolean;
  entities?: (string | FakeEntity)[];
  relations?: FakeRelation[];
  categories?: string[];
}

/**
 * An extraction answer holding `facts`. Pass the request when the engine has categories: its
 * schema then requires `categories` on every fact, and facts without one get [].
 */
export function fakeExtractAnswer(facts: FakeFact[], request?: FakeChatRequest): FakeReply {
  const format = request?.response_format as
    | {
        json_schema?: { schema?: { properties?: { facts?: { items?: { properties?: object } } } } };
      }
    | undefined;
  const wantsCategories =
    "categories" in (format?.json_schema?.schema?.properties?.facts?.items?.properties ?? {});
  return {
    content: {
      facts: facts.map((f) => ({
        text: f.text,
        source_indexes: f.source_indexes ?? [0],
        valid_from: f.valid_from ?? null,
        attribute: f.attribute ?? null,
        negates: f.negates ?? false,
        entities: (f.entities ?? []).map((e) =>
          typeof e === "string"
            ? { name: e, type: "other", aliases: [] }
            : { name: e.name, type: e.type, aliases: e.aliases ?? [] },
        ),
        relations: (f.relations ?? []).map((r) => ({
          subject: r.subject,
          predicate: r.predicate,
          object: r.object,
          valid_from: r.valid_from ?? null,
          valid_to: r.valid_to ?? null,
        })),
        ...(f.categories || wantsCategories ? { categories: f.categories ?? [] } : {}),
      })),
    },
  };
}

/** A reconciliation answer; `text` defaults to "" (ADD then keeps the fact's text). */
export function fakeReconcileAnswer(decision: {
  event: "ADD" | "UPDATE" | "DELETE" | "NOOP";
  target_id?: string | null;
  supersede?: boolean;
  text?: string;
  reason?: string;
}): FakeReply {
  return {
    content: {
      event: decision.event,
      target_id: decision.target_id ?? null,
      supersede: decision.supersede ?? false,
      text: decision.text ?? "",
      reason: decision.reason ?? `scripted ${decision.event}`,
    },
  };
}

/**
 * A handler scripting both steps of the LLM engine: extraction answers each message's text as one
 * fact ("LLM: <content>", from that message), reconciliation answers what `decide` returns for
 * its input (the fact and the neighbours offered).
 */
export function echoFactsHandler(
  decide: (input: {
    fact: { text: string };
    neighbours: { id: string; memory: string }[];
  }) => FakeReply,
): FakeHandler {
  return (req) => {
    const input = fakeRequestInput(req) as Record<string, unknown>;
    if (req.schemaName === "engram_extract") {
      const messages = input.messages as { content: string }[];
      return fakeExtractAnswer(
        messages.map((m, i) => ({ text: `LLM: ${m.content}`, source_indexes: [i] })),
        req,
      );
    }
    return decide(input as unknown as Parameters<typeof decide>[0]);
  };
}
