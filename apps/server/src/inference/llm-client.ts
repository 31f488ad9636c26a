import { type Attempt, failedAnswer, postJson, withRetries } from "../lib/json-post.ts";
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

/** What `tokensIn` and `tokensOut` of `model` cost in US dollars (0 for a model without a price). */
export function llmCost(
  prices: LlmPrices,
  model: string,
  tokensIn: number,
  tokensOut: number,
): number {
  const price = prices[model];
  if (!price) return 0;
  return (tokensIn * price.input_per_mtok + tokensOut * price.output_per_mtok) / 1_000_000;
}

/** Takes the key out of messages: some servers echo it in error bodies, and fetch echoes bad headers. */
export function redactor(apiKey: string | undefined): (message: string) => string {
  return (message) => (apiKey ? message.replaceAll(apiKey, "[redacted]") : message);
}

/** The header carrying the prompt version, so an endpoint's own logs can tell prompts apart. */
const PROMPT_VERSION_HEADER = "x-engram-prompt-version";

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
  const headers: Record<string, string> = {};
  if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
  const models = [opts.model];
  if (opts.fallbackModel && opts.fallbackModel !== opts.model) models.push(opts.fallbackModel);

  const redact = redactor(opts.apiKey);
  const costOf = (model: string, tokensIn: number, tokensOut: number) =>
    llmCost(prices, model, tokensIn, tokensOut);

  async function attempt(
    request: ChatRequest,
    model: string,
    calls: LlmCall[],
  ): Promise<Attempt<string>> {
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
    const finish = (result: Attempt<string>): Attempt<string> => {
      const call = record();
      const fields = { ...call, promptVersion: request.promptVersion };
      if (result.kind === "ok") log?.debug(fields, "llm call");
      else log?.warn({ ...fields, error: result.error }, "llm call failed");
      return result;
    };
    const answer = await postJson(
      url,
      {
        model,
        // No temperature: reasoning models refuse any but their default.
        messages: request.messages,
        response_format: {
          type: "json_schema",
          json_schema: { name: request.schema.name, strict: true, schema: request.schema.schema },
        },
      },
      {
        headers: { ...headers, [PROMPT_VERSION_HEADER]: request.promptVersion },
        // A timed-out attempt took the whole budget: the next model, not the same one again.
        signal: AbortSignal.timeout(timeoutMs),
        timeoutMs,
        redact,
      },
    );
    if (answer.kind !== "answer") return finish(answer);
    const body = answer.body as CompletionBody | undefined;
    usage = body?.usage;
    if (!answer.ok) return finish(failedAnswer(answer, redact(errorDetail(body, answer.text))));
    const choice = body?.choices?.[0];
    const content = choice?.message?.content;
    if (typeof choice?.message?.refusal === "string" && choice.message.refusal) {
      return finish({ kind: "fail", error: `the model refused: ${choice.message.refusal}` });
    }
    if (typeof content !== "string") {
      return finish({ kind: "fail", error: "the answer has no message content" });
    }
    return finish({ kind: "ok", value: content });
  }

  return {
    model: opts.model,
    async complete(request) {
      const calls: LlmCall[] = [];
      const errors: string[] = [];
      for (const model of models) {
        const result = await withRetries(() => attempt(request, model, calls), {
          maxRetries,
          maxBackoffMs,
        });
        if (result.ok) return { ok: true, content: result.value, model, calls };
        const n = result.attempts;
        errors.push(`${model}: ${result.error} (${n} attempt${n > 1 ? "s" : ""})`);
      }
      // No endpoint in the error: it reaches API clients (inference.fallback), and the operator's
      // URL is not theirs to see.
      return { ok: false, error: errors.join("; "), calls };
    },
  };
}

/** A token count as reported, or 0 when missing or not a count. */
export function tokenCount(value: unknown): number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : 0;
}

/** An error answer's message (OpenAI's `error.message`, else its text), at most 300 characters. */
export function errorDetail(body: unknown, text: string): string {
  const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
  return (typeof message === "string" ? message : text).slice(0, 300);
}
