import type { RerankStatus } from "@engram/contract";
import type { Reranker } from "./reranker.ts";

/** A search hit of either kind: its scores get the re-ranker's (null until re-ranked). */
interface Hit {
  scores: { rerank: number | null };
}

/**
 * One search with the optional re-ranking step after fusion (ADR 0032). Without a re-ranker the
 * fused hits are the answer, and no status is given. With one, unless the request says
 * `rerank: false`, the best `reranker.candidates` fused hits are sent (fetching more than `limit`
 * when there are fewer of them), put in the order of their relevance scores (ties keep the fused
 * order), followed by the rest in fused order, and cut to `limit`. If the re-ranker fails, the
 * fused order stands and the status says why.
 */
export async function rerankedSearch<H extends Hit>(opts: {
  reranker: Reranker | undefined;
  /** The request's `rerank` (default true). */
  requested: boolean | undefined;
  query: string;
  limit: number;
  /** The fused hits, best first, at most `limit`. */
  search: (limit: number) => Promise<H[]>;
  /** What the re-ranker reads of a hit. */
  text: (hit: H) => string;
}): Promise<{ hits: H[]; rerank?: RerankStatus }> {
  const { reranker, limit } = opts;
  if (!reranker) return { hits: await opts.search(limit) };
  const model = reranker.model === undefined ? {} : { model: reranker.model };
  if (opts.requested === false)
    return { hits: await opts.search(limit), rerank: { applied: false } };
  const fused = await opts.search(Math.max(limit, reranker.candidates));
  const head = fused.slice(0, reranker.candidates);
  // Nothing to send: the (empty) answer is in the re-ranker's order as much as in any.
  if (head.length === 0) return { hits: [], rerank: { applied: true, ...model } };
  const scored = await reranker.score(opts.query, head.map(opts.text));
  if (!scored.ok) {
    return {
      hits: fused.slice(0, limit),
      rerank: { applied: false, ...model, fallback_reason: scored.reason },
    };
  }
  const order = head
    .map((hit, i) => ({ hit, i, score: scored.scores[i] as number }))
    .sort((a, b) => b.score - a.score || a.i - b.i);
  const reranked = order.map(({ hit, score }) => ({
    ...hit,
    scores: { ...hit.scores, rerank: score },
  }));
  return {
    hits: [...reranked, ...fused.slice(head.length)].slice(0, limit),
    rerank: { applied: true, ...model },
  };
}

/** The status of a search of two lists (memories and knowledge): applied only if both were. */
export function bothReranked(
  a: RerankStatus | undefined,
  b: RerankStatus | undefined,
): RerankStatus | undefined {
  if (!a || !b) return a ?? b;
  const reason = a.fallback_reason ?? b.fallback_reason;
  const model = a.model ?? b.model;
  return {
    applied: a.applied && b.applied,
    ...(model === undefined ? {} : { model }),
    ...(reason === undefined ? {} : { fallback_reason: reason }),
  };
}
