import type { LlmCall } from "./engine.ts";

/** What a model costs, in US dollars per million tokens. */
interface LlmPrice {
  input_per_mtok: number;
  output_per_mtok: number;
}

/** Prices by model name, as configured (ENGRAM_LLM_PRICES); a model not listed costs 0. */
export type LlmPrices = Record<string, LlmPrice>;

/** The part of the process logger the client uses (Fastify's pino logger fits). */
export interface LlmLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface LlmClientOptions {
  /** The OpenAI-compatible API root, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1. */
  baseUrl: string;
  model: string;
  apiKey?: string | undefined;
  /** Tried once the primary model's attempts are spent (or it answered with a client error). */
  fallbackModel?: string | undefined;
  /** Per attempt. */
  timeoutMs?: number | undefined;
  /** Retries per model after the first attempt, on 429, 5xx and network errors. */
  maxRetries?: number | undefined;
  /** Longest wait between two attempts, whatever Retry-After asks. */
  maxBackoffMs?: number | undefined;
  prices?: LlmPrices | undefined;
  log?: LlmLogger | undefined;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ChatRequest {
  purpose: LlmCall["purpose"];
  /** The prompt file's version (e.g. "extract.v1"): sent as a header and logged. */
  promptVersion: string;
  messages: ChatMessage[];
  /** Structured output: the JSON schema the answer must follow (strict mode). */
  schema: { name: string; schema: object };
}

type ChatResult =
  | { ok: true; content: string; model: string; calls: LlmCall[] }
  | { ok: false; error: string; calls: LlmCall[] };

export interface LlmClient {
  readonly model: string;
  /** Never throws: a failure is a result saying why, with the calls it cost. */
  complete(request: ChatRequest): Promise<ChatResult>;
}

/** The header carrying the prompt version, so an endpoint's own logs can tell prompts apart. */
const PROMPT_VERSION_HEADER = "x-engram-prompt-version";

type Attempt =
  | { kind: "ok"; content: string }
  | { kind: "retry"; error: string; retryAfter: string | null }
  | { kind: "fail"; error: string };

type CompletionBody = {
  choices?: { message?: { content?: unknown; refusal?: unknown }; finish_reason?: unknown }[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown };
};

/** A client for `POST {baseUrl}/chat/completions` with JSON-schema structured output. */
export function createLlmClient(opts: LlmClientOptions): LlmClient {
  const url = `${opts.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxRetries = opts.maxRetries ?? 2;
  const maxBackoffMs = opts.maxBackoffMs ?? 5_000;
  const prices = opts.prices ?? {};
  const log = opts.log;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
  const models = [opts.model];
  if (opts.fallbackModel && opts.fallbackModel !== opts.model) models.push(opts.fallbackModel);

  /** Some servers echo the key in error bodies, and fetch echoes bad header values. */
  const redact = (message: string) =>
    opts.apiKey ? message.replaceAll(opts.apiKey, "[redacted]") : message;

  function costOf(model: string, tokensIn: number, tokensOut: number): number {
    const price = prices[model];
    if (!price) return 0;
    return (tokensIn * price.input_per_mtok + tokensOut * price.output_per_mtok) / 1_000_000;
  }

  async function attempt(request: ChatRequest, model: string, calls: LlmCall[]): Promise<Attempt> {
    const started = performance.now();
    let usage: CompletionBody["usage"];
    const record = () => {
      const tokensIn = tokenCount(usage?.prompt_tokens);
      const tokensOut = tokenCount(usage?.completion_tokens);
      const latencyMs = Math.round(performance.now() - started);
      const call: LlmCall = {
        model,
        purpose: request.purpose,
        tokensIn,
        tokensOut,
        latencyMs,
        costUsd: costOf(model, tokensIn, tokensOut),
      };
      calls.push(call);
      return call;
    };
    const finish = (result: Attempt): Attempt => {
      const call = record();
      const fields = { ...call, promptVersion: request.promptVersion };
      if (result.kind === "ok") log?.debug(fields, "llm call");
      else log?.warn({ ...fields, error: result.error }, "llm call failed");
      return result;
    };
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: { ...headers, [PROMPT_VERSION_HEADER]: request.promptVersion },
        body: JSON.stringify({
          model,
          // No temperature: reasoning models refuse any but their default.
          messages: request.messages,
          response_format: {
            type: "json_schema",
            json_schema: { name: request.schema.name, strict: true, schema: request.schema.schema },
          },
        }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      // A timed-out attempt already took the whole budget: the next model, not the same one again.
      if (err instanceof Error && err.name === "TimeoutError") {
        return finish({ kind: "fail", error: `timed out after ${timeoutMs} ms` });
      }
      return finish({ kind: "retry", error: redact(causeOf(err)), retryAfter: null });
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      const timedOut = err instanceof Error && err.name === "TimeoutError";
      const error = timedOut ? `timed out after ${timeoutMs} ms` : redact(causeOf(err));
      return finish(
        timedOut ? { kind: "fail", error } : { kind: "retry", error, retryAfter: null },
      );
    }
    const body = parseJson(text) as CompletionBody | undefined;
    usage = body?.usage;
    if (!res.ok) {
      const error = `HTTP ${res.status} ${redact(errorDetail(body, text))}`.trim();
      const retryable = res.status === 429 || res.status >= 500;
      return finish(
        retryable
          ? { kind: "retry", error, retryAfter: res.headers.get("retry-after") }
          : { kind: "fail", error },
      );
    }
    const choice = body?.choices?.[0];
    const content = choice?.message?.content;
    if (typeof choice?.message?.refusal === "string" && choice.message.refusal) {
      return finish({ kind: "fail", error: `the model refused: ${choice.message.refusal}` });
    }
    if (typeof content !== "string") {
      return finish({ kind: "fail", error: "the answer has no message content" });
    }
    return finish({ kind: "ok", content });
  }

  return {
    model: opts.model,
    async complete(request) {
      const calls: LlmCall[] = [];
      const errors: string[] = [];
      for (const model of models) {
        for (let tries = 0; ; tries++) {
          const result = await attempt(request, model, calls);
          if (result.kind === "ok") return { ok: true, content: result.content, model, calls };
          if (result.kind === "fail" || tries >= maxRetries) {
            const spent = tries + 1;
            errors.push(`${model}: ${result.error} (${spent} attempt${spent > 1 ? "s" : ""})`);
            break;
          }
          await sleep(retryDelayMs(tries, result.retryAfter, maxBackoffMs));
        }
      }
      // No endpoint in the error: it reaches API clients (inference.fallback), and the operator's
      // URL is not theirs to see.
      return { ok: false, error: errors.join("; "), calls };
    },
  };
}

function tokenCount(value: unknown): number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : 0;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorDetail(body: unknown, text: string): string {
  const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
  return (typeof message === "string" ? message : text).slice(0, 300);
}

function causeOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
}

/** Retry-After (seconds or an HTTP date) when given, else exponential; never above the cap. */
export function retryDelayMs(tries: number, retryAfter: string | null, capMs: number): number {
  let wanted = 250 * 2 ** tries;
  if (retryAfter !== null && retryAfter.trim() !== "") {
    const seconds = Number(retryAfter);
    const date = Date.parse(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) wanted = seconds * 1000;
    else if (Number.isFinite(date)) wanted = Math.max(0, date - Date.now());
  }
  return Math.min(wanted, capMs);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
