/** A text embedder. Implementations: the local USE-Lite model (worker thread) and OpenAI-compatible HTTP. */
export interface Embedder {
  /** Stable model id stored next to every vector, e.g. "use-lite-512". */
  readonly modelId: string;
  /** Vector dimension (every vector this embedder returns has this length). */
  readonly dimension: number;
  /** Embeds texts in order. Implementations batch internally; callers may pass any count. */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
  /** Releases worker threads / sockets. */
  close(): Promise<void>;
}
