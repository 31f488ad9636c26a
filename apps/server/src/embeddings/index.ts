// @engram/server/embeddings: the embedder interface, the local model and the OpenAI-compatible one.
export { createEmbedder } from "./create-embedder.ts";
export type { Embedder } from "./embedder.ts";
export { createLocalEmbedder, LOCAL_MODEL } from "./local-embedder.ts";
export { createOpenAIEmbedder } from "./openai-embedder.ts";
