import Type, { type Static } from "typebox";
import { RERANK_PROTOCOLS, type RerankConfig } from "../rerank/reranker.ts";
import { ModelName } from "./llm-config.ts";

/**
 * Most fused hits one search sends: as many as a search can return. The default stays under the
 * texts TEI takes per request by default (32).
 */
const CANDIDATES_MAX = 100;
const CANDIDATES_DEFAULT = 30;

/** The re-ranker's environment variables (merged into the one env schema in config.ts). */
export const rerankEnv = {
  ENGRAM_RERANK_URL: Type.Optional(Type.String({ pattern: "^https?://\\S+$", maxLength: 2000 })),
  ENGRAM_RERANK_PROTOCOL: Type.Optional(Type.Enum(RERANK_PROTOCOLS)),
  ENGRAM_RERANK_MODEL: Type.Optional(ModelName),
  ENGRAM_RERANK_API_KEY: Type.Optional(Type.String({ minLength: 1 })),
  ENGRAM_RERANK_TIMEOUT_MS: Type.Optional(Type.Integer({ minimum: 50, maximum: 60_000 })),
  ENGRAM_RERANK_MAX_RETRIES: Type.Optional(Type.Integer({ minimum: 0, maximum: 5 })),
  ENGRAM_RERANK_CANDIDATES: Type.Optional(Type.Integer({ minimum: 1, maximum: CANDIDATES_MAX })),
};
type RerankEnv = Static<ReturnType<typeof Type.Object<typeof rerankEnv>>>;

/**
 * The re-ranker's configuration, or undefined when ENGRAM_RERANK_URL is unset. Any other
 * ENGRAM_RERANK_* without the URL is a mistake worth stopping for: it would silently do nothing.
 */
export function rerankConfig(
  e: RerankEnv,
  fail: (message: string) => Error,
): RerankConfig | undefined {
  const url = e.ENGRAM_RERANK_URL;
  if (url === undefined) {
    const stray = Object.keys(rerankEnv).find((k) => e[k as keyof RerankEnv] !== undefined);
    if (stray) throw fail(`${stray} is set but ENGRAM_RERANK_URL is not: set both, or neither`);
    return undefined;
  }
  // The pattern lets "https://" or "http://a b" through; the value is never echoed (credentials).
  if (!URL.canParse(url)) throw fail("Invalid ENGRAM_RERANK_URL: not a URL");
  const protocol = e.ENGRAM_RERANK_PROTOCOL ?? "cohere";
  if (protocol !== "tei" && e.ENGRAM_RERANK_MODEL === undefined) {
    throw fail(`ENGRAM_RERANK_MODEL is required with ENGRAM_RERANK_PROTOCOL=${protocol}`);
  }
  return {
    url,
    protocol,
    model: e.ENGRAM_RERANK_MODEL,
    apiKey: e.ENGRAM_RERANK_API_KEY,
    timeoutMs: e.ENGRAM_RERANK_TIMEOUT_MS ?? 1_500,
    maxRetries: e.ENGRAM_RERANK_MAX_RETRIES ?? 1,
    candidates: e.ENGRAM_RERANK_CANDIDATES ?? CANDIDATES_DEFAULT,
  };
}
