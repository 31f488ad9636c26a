import type { Category, InferenceEngine } from "./engine.ts";
import { createLlmClient, type LlmLogger, type LlmPrices } from "./llm-client.ts";
import { createLlmEngine } from "./llm-engine.ts";

/** The LLM engine's configuration (ENGRAM_LLM_*, docs/llm.md); absent when the engine is local. */
export interface LlmConfig {
  baseUrl: string;
  model: string;
  apiKey?: string | undefined;
  fallbackModel?: string | undefined;
  timeoutMs: number;
  maxRetries: number;
  prices: LlmPrices;
}

interface InferenceEngineExtras {
  log?: LlmLogger | undefined;
  /** Categories the model chooses from when a request passes none (ExtractOptions). */
  categories?: Category[] | undefined;
}

/** The configured inference engine: the LLM engine (over `local`) when configured, else `local`. */
export function createInferenceEngine(
  llm: LlmConfig | undefined,
  local: InferenceEngine,
  extras: InferenceEngineExtras = {},
): InferenceEngine {
  if (!llm) return local;
  const client = createLlmClient({ ...llm, log: extras.log });
  return createLlmEngine({ client, local, log: extras.log, categories: extras.categories });
}
