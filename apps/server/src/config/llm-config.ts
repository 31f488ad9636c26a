import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import Type, { type Static } from "typebox";
import Value from "typebox/value";
import type { LlmConfig } from "../inference/create-engine.ts";
import type { LlmPrices } from "../inference/llm-client.ts";

/** A model name as providers spell them (`gpt-4o-mini`, `BAAI/bge-reranker-v2-m3`, `llama3.1:8b`). */
export const ModelName = Type.String({ pattern: "^[A-Za-z0-9._:/@+-]{1,200}$" });

/** The inference engine's environment variables (merged into the one env schema in config.ts). */
export const llmEnv = {
  ENGRAM_INFERENCE_ENGINE: Type.Optional(Type.Enum(["local", "llm"] as const)),
  ENGRAM_LLM_BASE_URL: Type.Optional(Type.String({ pattern: "^https?://" })),
  ENGRAM_LLM_MODEL: Type.Optional(ModelName),
  ENGRAM_LLM_API_KEY: Type.Optional(Type.String({ minLength: 1 })),
  ENGRAM_LLM_FALLBACK_MODEL: Type.Optional(ModelName),
  ENGRAM_LLM_TIMEOUT_MS: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
  ENGRAM_LLM_MAX_RETRIES: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
  ENGRAM_LLM_PRICES: Type.Optional(Type.String({ minLength: 1 })),
};
type LlmEnv = Static<ReturnType<typeof Type.Object<typeof llmEnv>>>;

const Prices = Type.Record(
  Type.String({ minLength: 1 }),
  Type.Object(
    {
      input_per_mtok: Type.Number({ minimum: 0 }),
      output_per_mtok: Type.Number({ minimum: 0 }),
    },
    { additionalProperties: false },
  ),
);

/**
 * The LLM engine's configuration, or undefined for the local engine: ENGRAM_INFERENCE_ENGINE, by
 * default `llm` when ENGRAM_LLM_BASE_URL is set. `fail` builds the error to throw.
 */
export function llmConfig(e: LlmEnv, fail: (message: string) => Error): LlmConfig | undefined {
  const engine = e.ENGRAM_INFERENCE_ENGINE ?? (e.ENGRAM_LLM_BASE_URL ? "llm" : "local");
  if (engine === "local") return undefined;
  if (!e.ENGRAM_LLM_BASE_URL) {
    throw fail("ENGRAM_LLM_BASE_URL is required when ENGRAM_INFERENCE_ENGINE=llm");
  }
  return llmConnection(e, fail);
}

/**
 * The configured LLM endpoint (ENGRAM_LLM_*), whatever inference uses: agents' chat answers with
 * it when it is set (docs/chat.md), undefined when ENGRAM_LLM_BASE_URL is not.
 */
export function llmConnection(e: LlmEnv, fail: (message: string) => Error): LlmConfig | undefined {
  if (!e.ENGRAM_LLM_BASE_URL) return undefined;
  if (!e.ENGRAM_LLM_MODEL) throw fail("ENGRAM_LLM_MODEL is required with ENGRAM_LLM_BASE_URL");
  return {
    baseUrl: e.ENGRAM_LLM_BASE_URL.replace(/\/+$/, ""),
    model: e.ENGRAM_LLM_MODEL,
    apiKey: e.ENGRAM_LLM_API_KEY,
    fallbackModel: e.ENGRAM_LLM_FALLBACK_MODEL,
    timeoutMs: e.ENGRAM_LLM_TIMEOUT_MS ?? 30_000,
    maxRetries: e.ENGRAM_LLM_MAX_RETRIES ?? 2,
    prices: e.ENGRAM_LLM_PRICES === undefined ? {} : prices(e.ENGRAM_LLM_PRICES, fail),
  };
}

/** ENGRAM_LLM_PRICES: inline JSON when it starts with `{`, else the path of a JSON file. */
function prices(value: string, fail: (message: string) => Error): LlmPrices {
  const inline = value.trimStart().startsWith("{");
  let text = value;
  if (!inline) {
    try {
      text = readFileSync(resolve(value), "utf8");
    } catch (err) {
      const code = (err as { code?: string }).code ?? "unreadable";
      throw fail(`Invalid ENGRAM_LLM_PRICES: cannot read the file ${resolve(value)} (${code})`);
    }
  }
  const where = inline ? "" : ` (${resolve(value)})`;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw fail(`Invalid ENGRAM_LLM_PRICES${where}: not JSON`);
  }
  const first = Value.Errors(Prices, data)[0];
  if (first) {
    throw fail(`Invalid ENGRAM_LLM_PRICES${where}: ${first.instancePath || "/"} ${first.message}`);
  }
  return data as LlmPrices;
}
