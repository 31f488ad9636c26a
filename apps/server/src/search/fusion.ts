/**
 * Hybrid ranking shared by memory and knowledge search (ADR 0004): each side (vector, keyword)
 * ranks its own candidates, and the two lists are fused by reciprocal rank.
 */

/**
 * Reciprocal rank fusion constant. 60 (Cormack et al. 2009) was tuned for fusing many deep TREC
 * runs; with two lists and the top 10 what matters, a smaller k lets a first place on one side
 * count for more than a middling place on both (LoCoMo dev recall@10: k = 60 → 64.2 %, 10 → 68.6 %).
 */
export const RRF_K = 10;

/** How many candidates each side ranks for a search of `limit` results. */
export function candidateCount(limit: number): number {
  return Math.max(limit * 3, 40);
}

/**
 * The `fused` CTE of a hybrid search: reciprocal-rank fusion of the CTEs `vec (id, dist)` and
 * `kw (id, rank)`, giving `(id, rank, rrf)`.
 */
export const FUSED_CTE = `fused AS MATERIALIZED (
           SELECT coalesce(v.id, k.id) AS id, k.rank,
                  coalesce(1.0 / (${RRF_K} + v.r), 0) + coalesce(1.0 / (${RRF_K} + k.r), 0) AS rrf
           FROM (SELECT id, row_number() OVER (ORDER BY dist, id) AS r FROM vec) v
           FULL OUTER JOIN (SELECT id, rank, row_number() OVER (ORDER BY rank DESC, id) AS r FROM kw) k
             ON v.id = k.id
         )`;

/**
 * A hit's score: its fused `rrf` normalised so that ranking first on every side searched gives 1
 * (`sides` counts the sides searched; 0 counts as 1).
 */
export function fusedScore(rrf: number, sides: number): number {
  const best = (sides || 1) / (RRF_K + 1);
  return rrf / best;
}
