import type { Embedder } from "./embedder.ts";
import { createLocalEmbedder } from "./local-embedder.ts";
import { createOpenAIEmbedder } from "./openai-embedder.ts";

export type EmbedderConfig =
  | { provider: "local" }
  | { provider: "openai"; baseUrl: string; model: string; apiKey?: string; dimension: number };

/** Builds the configured embedder; the local model is loaded before this resolves. */
export async function createEmbedder(cfg: EmbedderConfig): Promise<Embedder> {
  if (cfg.provider === "local") return createLocalEmbedder();
  return createOpenAIEmbedder(cfg);
}
