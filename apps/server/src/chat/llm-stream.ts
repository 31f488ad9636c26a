import { createParser } from "eventsource-parser";
import { errorDetail, redactor, tokenCount } from "../inference/llm-client.ts";
import { causeOf } from "../lib/json-post.ts";

/**
 * One streamed chat completion: `POST {baseUrl}/chat/completions` with `stream: true`, read as
 * server-sent events (eventsource-parser) chunk by chunk. Two clocks guard it: the first content
 * token must come within `firstTokenMs` of the request, and after it no silence may last longer
 * than `stallMs`. Unparseable chunks are skipped (counted); a stream that yields no content, ends
 * without finishing, or carries an `error` object fails. Secrets never reach a message: the key
 * is redacted from everything the server or fetch says, and the URL is never named.
 */

export interface StreamEndpoint {
  baseUrl: string;
  apiKey?: string | undefined;
  firstTokenMs: number;
  stallMs: number;
}

export interface StreamMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface StreamRequest {
  model: string;
  messages: StreamMessage[];
  maxTokens: number;
  /** The caller's end (the visitor went away): aborts the request. */
  signal?: AbortSignal | undefined;
}

export interface StreamResult {
  /** The usage the server reported in its last chunk, when it did (and was not cut off). */
  usage: { tokensIn: number; tokensOut: number } | null;
  /** onDelta asked to stop (the budget): the request was aborted there. */
  stopped: boolean;
  /** Chunks that were not JSON, skipped. */
  malformed: number;
}

/** Why a stream failed; `contentSeen`: content had been handed to onDelta before. */
export class StreamFailure extends Error {
  override name = "StreamFailure";
  constructor(
    message: string,
    readonly contentSeen: boolean,
  ) {
    super(message);
  }
}

/** The longest event the parser buffers: a chunk is a few hundred bytes. */
const MAX_EVENT_BYTES = 1 << 20;

type Chunk = {
  choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
  error?: { message?: unknown };
};

/**
 * Streams one completion, handing each content piece to `onDelta` (return false to stop: the
 * request is aborted and the result says `stopped`). Throws StreamFailure.
 */
export async function streamCompletion(
  endpoint: StreamEndpoint,
  req: StreamRequest,
  onDelta: (text: string) => boolean,
): Promise<StreamResult> {
  const redact = redactor(endpoint.apiKey);
  const url = `${endpoint.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  const abort = new AbortController();
  let why: string | undefined;
  const stop = (reason: string) => {
    why ??= reason;
    abort.abort();
  };
  const onCallerAbort = () => stop("the request was cancelled");
  if (req.signal?.aborted) onCallerAbort();
  req.signal?.addEventListener("abort", onCallerAbort, { once: true });
  let timer = setTimeout(
    () => stop(`no first token within ${endpoint.firstTokenMs} ms`),
    endpoint.firstTokenMs,
  );
  let contentSeen = false;
  const rearm = () => {
    if (!contentSeen) return; // the first-token clock is absolute: keep-alives do not extend it
    clearTimeout(timer);
    timer = setTimeout(() => stop(`no chunk for ${endpoint.stallMs} ms`), endpoint.stallMs);
  };
  const fail = (message: string) => new StreamFailure(redact(message), contentSeen);

  let usage: StreamResult["usage"] = null;
  let stopped = false;
  let malformed = 0;
  let finished = false;
  let done = false;
  let upstreamError: string | undefined;
  try {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (endpoint.apiKey) headers.authorization = `Bearer ${endpoint.apiKey}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers,
        body: JSON.stringify({
          model: req.model,
          messages: req.messages,
          max_tokens: req.maxTokens,
          stream: true,
          stream_options: { include_usage: true },
        }),
        signal: abort.signal,
      });
    } catch (err) {
      throw fail(why ?? causeOf(err));
    }
    if (!res.ok) {
      const text = await res.text().catch(() => "");
      throw fail(`HTTP ${res.status} ${errorDetail(parseJson(text), text)}`.trim());
    }
    const handle = (data: string) => {
      if (data === "[DONE]") {
        done = true;
        return;
      }
      const chunk = parseJson(data) as Chunk | undefined;
      if (chunk === undefined || typeof chunk !== "object" || chunk === null) {
        malformed++;
        return;
      }
      if (chunk.error) {
        upstreamError = `the model's stream failed: ${errorDetail(chunk, "unknown error")}`;
        return;
      }
      if (chunk.usage) {
        usage = {
          tokensIn: tokenCount(chunk.usage.prompt_tokens),
          tokensOut: tokenCount(chunk.usage.completion_tokens),
        };
      }
      const choice = chunk.choices?.[0];
      if (typeof choice?.finish_reason === "string") finished = true;
      const content = choice?.delta?.content;
      if (typeof content === "string" && content !== "" && !stopped) {
        contentSeen = true;
        if (!onDelta(content)) {
          stopped = true;
          stop("stopped by the caller");
        }
      }
    };
    const parser = createParser({ onEvent: (e) => handle(e.data), maxBufferSize: MAX_EVENT_BYTES });
    if (!(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
      // A server that ignores `stream` answers one JSON completion: take its content whole.
      const text = await res.text().catch((err) => {
        throw fail(why ?? causeOf(err));
      });
      const body = parseJson(text) as
        | (Chunk & { choices?: { message?: { content?: unknown } }[] })
        | undefined;
      const content = body?.choices?.[0]?.message?.content;
      if (typeof content !== "string" || content === "") throw fail("the answer has no content");
      contentSeen = true;
      if (!onDelta(content)) stopped = true;
      const u = body?.usage;
      if (u) {
        usage = {
          tokensIn: tokenCount(u.prompt_tokens),
          tokensOut: tokenCount(u.completion_tokens),
        };
      }
      return { usage, stopped, malformed };
    }
    const decoder = new TextDecoder();
    try {
      for await (const bytes of res.body ?? []) {
        parser.feed(decoder.decode(bytes as Uint8Array, { stream: true }));
        rearm();
        if (upstreamError) throw fail(upstreamError);
        if (done || stopped) break;
      }
    } catch (err) {
      if (err instanceof StreamFailure) throw err;
      if (stopped) return { usage: null, stopped, malformed };
      throw fail(why ?? `the stream broke: ${causeOf(err)}`);
    }
    if (stopped) {
      abort.abort(); // the connection is no longer read: end it
      return { usage: null, stopped, malformed };
    }
    if (!contentSeen) {
      throw fail(
        malformed > 0
          ? `the stream had no content (${malformed} unreadable chunk${malformed > 1 ? "s" : ""})`
          : "the stream had no content",
      );
    }
    if (!done && !finished) throw fail("the stream ended before the answer was finished");
    return { usage, stopped, malformed };
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener("abort", onCallerAbort);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
