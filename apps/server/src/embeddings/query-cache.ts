import { LRUCache } from "lru-cache";
import type { Counters } from "../telemetry/counters.ts";
import type { Embedder } from "./embedder.ts";

/** A second-level query-vector cache shared by processes (Redis). Never throws: a failure is a miss. */
export interface SharedVectorCache {
  get(modelId: string, text: string, dimension: number): Promise<Float32Array | undefined>;
  set(modelId: string, text: string, vector: Float32Array): Promise<void>;
}

export type QueryCachedEmbedder = Embedder & {
  /** Embeds one search query, from the cache when the exact same text was embedded recently. */
  embedQuery(text: string): Promise<Float32Array>;
  /**
   * `hits`: answered by this process (its LRU, or joined in flight); `sharedHits`: answered by
   * the shared cache; `misses`: embedded by the model.
   */
  readonly stats: { hits: number; misses: number; sharedHits: number };
};

/**
 * Wraps an embedder with an LRU cache for search queries (L1, per process; `max` 0 turns it off)
 * and, when given, a shared cache behind it (L2). `embed` (ingestion) is not cached.
 */
export function withQueryCache(
  inner: Embedder,
  opts: { max: number; shared?: SharedVectorCache | undefined; counters?: Counters | undefined },
): QueryCachedEmbedder {
  const cache = opts.max > 0 ? new LRUCache<string, Float32Array>({ max: opts.max }) : undefined;
  const inFlight = new Map<string, Promise<Float32Array>>();
  const stats = { hits: 0, misses: 0, sharedHits: 0 };
  const count = (kind: keyof typeof stats) => {
    stats[kind]++;
    opts.counters?.inc(
      kind === "hits"
        ? "query_cache_hits_total"
        : kind === "sharedHits"
          ? "query_cache_shared_hits_total"
          : "query_cache_misses_total",
    );
  };

  function compute(text: string): Promise<Float32Array> {
    count("misses");
    return inner.embed([text]).then(([vector]) => {
      if (!vector) throw new Error(`embedder ${inner.modelId} returned no vector for a query`);
      // Not awaited: the search need not wait for Redis, and set() never throws.
      void opts.shared?.set(inner.modelId, text, vector);
      return vector;
    });
  }

  function load(text: string): Promise<Float32Array> {
    const pending = inFlight.get(text);
    if (pending) {
      count("hits");
      return pending;
    }
    const { shared } = opts;
    // Without a shared cache the model is called synchronously, so concurrent callers batch.
    const promise = (
      shared
        ? shared.get(inner.modelId, text, inner.dimension).then((vector) => {
            if (!vector) return compute(text);
            count("sharedHits");
            return vector;
          })
        : compute(text)
    )
      .then((vector) => {
        cache?.set(text, vector);
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
      const cached = cache?.get(text);
      if (cached) count("hits");
      // Each caller gets its own copy, so mutating a result cannot corrupt the cache.
      return (cached ?? (await load(text))).slice();
    },
  };
}
