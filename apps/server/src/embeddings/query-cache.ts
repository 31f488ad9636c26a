import { LRUCache } from "lru-cache";
import type { Embedder } from "./embedder.ts";

export type QueryCachedEmbedder = Embedder & {
  /** Embeds one search query, from the cache when the exact same text was embedded recently. */
  embedQuery(text: string): Promise<Float32Array>;
  /** A hit is a query answered without a new model call (cached or joined in flight). */
  readonly stats: { hits: number; misses: number };
};

/** Wraps an embedder with an LRU cache for search queries; `embed` (ingestion) is not cached. */
export function withQueryCache(inner: Embedder, opts: { max: number }): QueryCachedEmbedder {
  const cache = new LRUCache<string, Float32Array>({ max: opts.max });
  const inFlight = new Map<string, Promise<Float32Array>>();
  const stats = { hits: 0, misses: 0 };

  function load(text: string): Promise<Float32Array> {
    const pending = inFlight.get(text);
    if (pending) {
      stats.hits++;
      return pending;
    }
    stats.misses++;
    const promise = inner
      .embed([text])
      .then(([vector]) => {
        if (!vector) throw new Error(`embedder ${inner.modelId} returned no vector for a query`);
        cache.set(text, vector);
        return vector;
      })
      .finally(() => inFlight.delete(text));
    inFlight.set(text, promise);
    return promise;
  }

  return {
    modelId: inner.modelId,
    dimension: inner.dimension,
    stats,
    embed: (texts) => inner.embed(texts),
    close: () => inner.close(),
    async embedQuery(text) {
      const cached = cache.get(text);
      if (cached) stats.hits++;
      // Each caller gets its own copy, so mutating a result cannot corrupt the cache.
      return (cached ?? (await load(text))).slice();
    },
  };
}
