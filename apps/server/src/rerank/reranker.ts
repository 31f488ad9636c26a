import type { RerankStatus } from "@engram/contract";
import { type Attempt, failedAnswer, postJson, withRetries } from "../lib/json-post.ts";
import type { Counters } from "../telemetry/counters.ts";

/** The wire protocols of `/rerank` endpoints (docs/reranking.md). */
export const RERANK_PROTOCOLS = ["cohere", "jina", "tei"] as const;
type RerankProtocol = (typeof RERANK_PROTOCOLS)[number];

/** The re-ranker (ENGRAM_RERANK_*); the config holds undefined when none is configured. */
export interface RerankConfig {
  /** The endpoint itself: https://api.cohere.com/v2/rerank, http://tei:8080/rerank, … */
  url: string;
  protocol: RerankProtocol;
  /** Required by Cohere and Jina; a TEI server serves one model, so there it only names it. */
  model: string | undefined;
  apiKey: string | undefined;
  /** For the whole call, retries included: the most re-ranking adds to a search. */
  timeoutMs: number;
  /** Retries on 429, 5xx and network errors, within the timeout. */
  maxRetries: number;
  /** How many fused hits are sent, best first. */
  candidates: number;
}

/** Why a search kept its fused order although a re-ranker is configured. */
type RerankFailure = NonNullable<RerankStatus["fallback_reason"]>;

type RerankScores = { ok: true; scores: number[] } | { ok: false; reason: RerankFailure };

export interface Reranker {
  readonly model: string | undefined;
  readonly candidates: number;
  /** Each document's relevance to the query, in the documents' order. Never throws. */
  score(query: string, documents: string[]): Promise<RerankScores>;
}

/** The part of the process logger the client uses (Fastify's pino logger fits). */
interface RerankLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

interface Protocol {
  body(model: string | undefined, query: string, documents: string[]): object;
  /** The answer's (index, score) pairs; undefined when it does not have the protocol's shape. */
  pairs(body: unknown): { index: unknown; score: unknown }[] | undefined;
}

type Entry = { index?: unknown; relevance_score?: unknown; score?: unknown } | null | undefined;

/** Cohere v2 and Jina answer `{results: [{index, relevance_score}, …]}`, best first. */
function relevancePairs(body: unknown) {
  const results = (body as { results?: unknown } | null | undefined)?.results;
  if (!Array.isArray(results)) return undefined;
  return results.map((r: Entry) => ({ index: r?.index, score: r?.relevance_score }));
}

const PROTOCOLS: Record<RerankProtocol, Protocol> = {
  // top_n = every document: each gets its score, so none of the candidates drops out.
  cohere: {
    body: (model, query, documents) => ({ model, query, documents, top_n: documents.length }),
    pairs: relevancePairs,
  },
  jina: {
    // Jina sends each document's text back unless told not to; we have them.
    body: (model, query, documents) => ({
      model,
      query,
      documents,
      top_n: documents.length,
      return_documents: false,
    }),
    pairs: relevancePairs,
  },
  // Hugging Face TEI answers `[{index, score}, …]`; it refuses inputs longer than the model's
  // window unless asked to truncate them (a long memory must not fail the whole call).
  tei: {
    body: (_model, query, documents) => ({ query, texts: documents, truncate: true }),
    pairs: (body) =>
      Array.isArray(body)
        ? body.map((r: Entry) => ({ index: r?.index, score: r?.score }))
        : undefined,
  },
};

/**
 * The scores by document, or what is wrong with the answer: one pair per document, every index
 * in range and given once, every score a finite number (JSON's 1e999 parses to Infinity).
 */
function scoresOf(pairs: ReturnType<Protocol["pairs"]>, n: number): number[] | string {
  if (pairs === undefined) return "the answer does not have the protocol's shape";
  if (pairs.length !== n) return `the answer scores ${pairs.length} documents of ${n}`;
  const scores: (number | undefined)[] = new Array(n);
  for (const { index, score } of pairs) {
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= n) {
      return `index ${String(JSON.stringify(index)).slice(0, 40)} is not one of the documents`;
    }
    if (scores[index] !== undefined) return `index ${index} is scored twice`;
    if (typeof score !== "number" || !Number.isFinite(score)) {
      return `the score of index ${index} is not a finite number`;
    }
    scores[index] = score;
  }
  return scores as number[];
}

/**
 * A client for a `/rerank` endpoint. A call gets one time budget for all its attempts; a failure
 * (timeout, refusal, an answer that does not validate) is a result saying why, never a throw,
 * so the search falls back to the fused order. The API key is sent as a bearer token and kept out
 * of every log line; the URL is not logged either (it may carry credentials).
 */
export function createReranker(
  config: RerankConfig,
  deps: { log?: RerankLogger | undefined; counters?: Counters | undefined; maxBackoffMs?: number },
): Reranker {
  const protocol = PROTOCOLS[config.protocol];
  const headers: Record<string, string> = {};
  if (config.apiKey) headers.authorization = `Bearer ${config.apiKey}`;
  const apiKey = config.apiKey;
  const redact = (message: string) => (apiKey ? message.replaceAll(apiKey, "[redacted]") : message);
  const maxBackoffMs = deps.maxBackoffMs ?? 1_000;
  const { log, counters } = deps;

  return {
    model: config.model,
    candidates: config.candidates,
    async score(query, documents) {
      const started = performance.now();
      const signal = AbortSignal.timeout(config.timeoutMs);
      // Why the last attempt failed, set by each attempt.
      const last: { reason: RerankFailure } = { reason: "unavailable" };
      const attempt = async (): Promise<Attempt<number[]>> => {
        const body = protocol.body(config.model, query, documents);
        const answer = await postJson(config.url, body, {
          headers,
          signal,
          timeoutMs: config.timeoutMs,
          redact,
        });
        if (answer.kind !== "answer") {
          last.reason = signal.aborted ? "timeout" : "unavailable";
          return answer;
        }
        if (!answer.ok) {
          last.reason = "unavailable";
          return failedAnswer(answer, redact(answer.text.slice(0, 200)));
        }
        const scores = scoresOf(protocol.pairs(answer.body), documents.length);
        if (typeof scores === "string") {
          last.reason = "invalid_response";
          return { kind: "fail", error: scores };
        }
        return { kind: "ok", value: scores };
      };
      const result = await withRetries(attempt, {
        maxRetries: config.maxRetries,
        maxBackoffMs,
        deadline: started + config.timeoutMs,
      });
      const fields = {
        protocol: config.protocol,
        model: config.model,
        documents: documents.length,
        attempts: result.attempts,
        latencyMs: Math.round(performance.now() - started),
      };
      counters?.inc("rerank_calls_total");
      if (result.ok) {
        log?.debug(fields, "rerank call");
        return { ok: true, scores: result.value };
      }
      const { reason } = last;
      counters?.inc(reason === "timeout" ? "rerank_timeouts_total" : "rerank_errors_total");
      log?.warn({ ...fields, reason, error: result.error }, "rerank call failed: fused order kept");
      return { ok: false, reason };
    },
  };
}
