/**
 * Hybrid ranking with context (ADR 0033): the candidates of a memory search (the nearest by
 * vector, the best by keyword, those linked to the query's entities, those in the time window
 * the query names) and their neighbours in their session form a pool; each is scored on every
 * signal, a memory's vector and keyword scores take in part of its best session neighbour's
 * (a turn that answers "what did you paint?" is about what the turn before it says), and the
 * ranked lists are fused by weighted reciprocal rank.
 */
import { RRF_K } from "./fusion.ts";

/** One pooled candidate, as the search store reads it. */
export interface PoolRow {
  id: string;
  /** Cosine similarity to the query. */
  vector: number;
  /** Keyword score (sum of the IDF weights of the query terms it contains); 0 when none. */
  keyword: number;
  /** Weighted links to the query's entities; 0 when none. */
  entity: number;
  /** Whether its valid_from is inside the query's time window (false without one). */
  inWindow: boolean;
  validFrom: Date;
}

/** Tuning of the fusion, measured on the LoCoMo dev split (bench/RESULTS.md). */
const RANKING = {
  /** Share of the best session neighbour's score a memory's vector score takes in. */
  vectorContext: 0.4,
  keywordContext: 0.3,
  /** Weight of the normalised keyword score in the score that orders the entity and time lists. */
  keywordMix: 0.3,
  mixContext: 0.5,
  /** List weights in the fusion. */
  weights: { vector: 1, keyword: 1, entity: 1.5, time: 1 },
} as const;

export interface RankingOptions {
  /** How many candidates each list keeps. */
  candidates: number;
  /** Whether the query named entities of the scope (the entity list takes part). */
  entities: boolean;
  /** Whether the query named a time window (the time list takes part). */
  time: boolean;
  /** Recency weighting: scores decay by half every `halfLifeDays` before `reference`. */
  recency?: { halfLifeDays: number; weight: number; reference: Date } | undefined;
}

export interface Ranked {
  id: string;
  /** Fused score, 1 for first place on every list that took part. */
  score: number;
  /** 0..1 recency factor applied, when recency weighting was asked for. */
  recency?: number;
}

/**
 * Orders a pool. `adjacent` lists pairs of pool members that follow each other in a session.
 */
export function rankPool(
  rows: readonly PoolRow[],
  adjacent: readonly (readonly [string, string])[],
  opts: RankingOptions,
): Ranked[] {
  const index = new Map(rows.map((r, i) => [r.id, i]));
  const neighbours: number[][] = rows.map(() => []);
  for (const [a, b] of adjacent) {
    const i = index.get(a);
    const j = index.get(b);
    if (i === undefined || j === undefined || i === j) continue;
    neighbours[i]?.push(j);
    neighbours[j]?.push(i);
  }
  const withContext = (scores: number[], share: number) =>
    scores.map((s, i) => {
      const around = neighbours[i] ?? [];
      if (around.length === 0) return s;
      return s + share * Math.max(...around.map((j) => scores[j] as number));
    });
  const maxKeyword = Math.max(0, ...rows.map((r) => r.keyword)) || 1;
  const vector = withContext(
    rows.map((r) => r.vector),
    RANKING.vectorContext,
  );
  const keyword = withContext(
    rows.map((r) => r.keyword),
    RANKING.keywordContext,
  );
  const mixed = withContext(
    rows.map((r) => r.vector + (RANKING.keywordMix * r.keyword) / maxKeyword),
    RANKING.mixContext,
  );

  const lists: { order: number[]; weight: number }[] = [];
  const top = (keep: (i: number) => boolean, score: (i: number) => number) =>
    rows
      .map((_, i) => i)
      .filter(keep)
      .sort((a, b) => score(b) - score(a) || ((rows[b]?.id ?? "") < (rows[a]?.id ?? "") ? -1 : 1))
      .slice(0, opts.candidates);
  lists.push({
    order: top(
      () => true,
      (i) => vector[i] as number,
    ),
    weight: RANKING.weights.vector,
  });
  lists.push({
    order: top(
      (i) => (keyword[i] as number) > 0,
      (i) => keyword[i] as number,
    ),
    weight: RANKING.weights.keyword,
  });
  if (opts.entities) {
    lists.push({
      order: top(
        (i) => (rows[i]?.entity ?? 0) > 0,
        (i) => (rows[i]?.entity ?? 0) * 10 + (mixed[i] as number),
      ),
      weight: RANKING.weights.entity,
    });
  }
  if (opts.time) {
    lists.push({
      order: top(
        (i) => rows[i]?.inWindow === true,
        (i) => mixed[i] as number,
      ),
      weight: RANKING.weights.time,
    });
  }
  const fused = new Array<number>(rows.length).fill(0);
  for (const list of lists) {
    list.order.forEach((i, rank) => {
      fused[i] = (fused[i] as number) + list.weight / (RRF_K + rank + 1);
    });
  }
  const best = lists.reduce((sum, l) => sum + l.weight, 0) / (RRF_K + 1);
  const ranked = rows.map((r, i): Ranked => {
    let score = (fused[i] as number) / best;
    if (!opts.recency) return { id: r.id, score };
    const { halfLifeDays, weight, reference } = opts.recency;
    const ageDays = Math.max(0, reference.getTime() - r.validFrom.getTime()) / 86_400_000;
    const recency = 0.5 ** (ageDays / halfLifeDays);
    score *= 1 - weight + weight * recency;
    return { id: r.id, score, recency };
  });
  return ranked
    .filter((_, i) => (fused[i] as number) > 0)
    .sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : -1));
}
