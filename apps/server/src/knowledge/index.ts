// @engram/server/knowledge: reading documents: parse, chunk, and the text each chunk is embedded as.
export { type Chunk, type ChunkOptions, chunkBlocks, DEFAULT_CHUNKING } from "./chunker.ts";
export { embeddingText } from "./ingest-worker.ts";
export { type MediaType, parseDocument } from "./parse-document.ts";
