import type { ChatUsage } from "@engram/contract";
import { countTokens } from "../context/context-tokens.ts";
import type { LlmCall } from "../inference/engine.ts";
import { type LlmPrices, llmCost } from "../inference/llm-client.ts";
import { AppError } from "../lib/errors.ts";
import {
  type StreamEndpoint,
  StreamFailure,
  type StreamMessage,
  streamCompletion,
} from "./llm-stream.ts";

/**
 * An LLM answer, streamed: the primary model, then the fallback when the primary fails (HTTP
 * error, network, no first token in time, a stall, nothing usable) before any delta was sent.
 * Once deltas were sent, a failure ends the answer with 503 service_unavailable (the route's
 * `error` event): the visitor already reads the primary's words, and another model would start
 * over. The cost is metered as it streams: the prompt's tokens and each delta's (o200k, the
 * context endpoint's counter), priced per model (ENGRAM_LLM_PRICES); when it reaches the cap (the
 * smaller of the plan's per-request ceiling and the tenant's budget left) the request is aborted
 * and the answer ends `terminated`, its usage what was spent.
 */

export interface LlmAnswerOptions {
  endpoint: StreamEndpoint;
  prices: LlmPrices;
  models: string[];
  maxTokens: number;
  /** US dollars this answer may spend (Infinity: no cap). */
  capUsd: number;
  messages: StreamMessage[];
  signal?: AbortSignal | undefined;
  emit: (text: string) => void;
  log?: { warn(obj: object, msg: string): void } | undefined;
}

export type LlmAnswer =
  | {
      ok: true;
      text: string;
      terminated: boolean;
      usage: ChatUsage;
      calls: LlmCall[];
      fallbackUsed: boolean;
    }
  /** Every model failed before sending anything: the caller answers without the LLM. */
  | { ok: false; error: string; calls: LlmCall[]; fallbackUsed: boolean };

/** Tokens a chat-completions message costs besides its content (role and separators). */
const MESSAGE_OVERHEAD_TOKENS = 4;

/** The prompt's input tokens, as the model will count them (closely enough to meter). */
function promptTokens(messages: StreamMessage[]): number {
  return messages.reduce((sum, m) => sum + countTokens(m.content) + MESSAGE_OVERHEAD_TOKENS, 3);
}

/** Whether the prompt alone reaches the cap on the first model: then no model is asked. */
export function promptOverCap(
  prices: LlmPrices,
  model: string,
  messages: StreamMessage[],
  capUsd: number,
): boolean {
  return llmCost(prices, model, promptTokens(messages), 0) >= capUsd;
}

/** Streams an answer from the first model that gives one (see above). */
export async function llmAnswer(opts: LlmAnswerOptions): Promise<LlmAnswer> {
  const calls: LlmCall[] = [];
  const errors: string[] = [];
  const tokensIn = promptTokens(opts.messages);
  for (const [i, model] of opts.models.entries()) {
    const started = performance.now();
    let text = "";
    let tokensOut = 0;
    let cost = llmCost(opts.prices, model, tokensIn, 0);
    let terminated = false;
    const record = (tin: number, tout: number) => {
      const call: LlmCall = {
        model,
        purpose: "chat",
        tokensIn: tin,
        tokensOut: tout,
        latencyMs: Math.round(performance.now() - started),
        costUsd: llmCost(opts.prices, model, tin, tout),
      };
      calls.push(call);
      return call;
    };
    try {
      const result = await streamCompletion(
        opts.endpoint,
        { model, messages: opts.messages, maxTokens: opts.maxTokens, signal: opts.signal },
        (delta) => {
          text += delta;
          tokensOut += countTokens(delta);
          cost = llmCost(opts.prices, model, tokensIn, tokensOut);
          opts.emit(delta);
          if (cost >= opts.capUsd) {
            terminated = true;
            return false;
          }
          return true;
        },
      );
      // The server's own count when it gave one (it is what is billed), else ours.
      const usage = !terminated && result.usage ? result.usage : { tokensIn, tokensOut };
      const call = record(usage.tokensIn, usage.tokensOut);
      return {
        ok: true,
        text,
        terminated,
        usage: { tokens_in: call.tokensIn, tokens_out: call.tokensOut, cost_usd: call.costUsd },
        calls,
        fallbackUsed: i > 0,
      };
    } catch (err) {
      if (!(err instanceof StreamFailure)) throw err;
      // What a failed stream cost: what it sent (the prompt, if it got as far as answering).
      record(err.contentSeen ? tokensIn : 0, tokensOut);
      opts.log?.warn({ model, purpose: "chat", error: err.message }, "chat model failed");
      if (err.contentSeen) {
        throw new AppError(
          "service_unavailable",
          `The model stopped answering mid-way (${err.message}); ask again`,
        );
      }
      if (opts.signal?.aborted)
        throw new AppError("service_unavailable", "The answer was cancelled");
      errors.push(`${model}: ${err.message}`);
    }
  }
  return { ok: false, error: errors.join("; "), calls, fallbackUsed: opts.models.length > 1 };
}
