import type { Embedder } from "./embedder.ts";
import { createLocalEmbedder, LOCAL_MODEL } from "./local-embedder.ts";
import { createOpenAIEmbedder, openAIModelId } from "./openai-embedder.ts";

export type EmbedderConfig =
  | { provider: "local" }
  | { provider: "openai"; baseUrl: string; model: string; apiKey?: string; dimension: number };

/** Builds the configured embedder; the local model is loaded before this resolves. */
export async function createEmbedder(cfg: EmbedderConfig): Promise<Embedder> {
  if (cfg.provider === "local") return createLocalEmbedder();
  return createOpenAIEmbedder(cfg);
}

/**
 * The model id and dimension a config embeds with, known without loading the model: what
 * `engram migrate` builds the HNSW index for and what the stores tag vectors with.
 */
export function embeddingModel(cfg: EmbedderConfig): { id: string; dimension: number } {
  if (cfg.provider === "local") return { ...LOCAL_MODEL };
  return { id: openAIModelId(cfg.model), dimension: cfg.dimension };
}
