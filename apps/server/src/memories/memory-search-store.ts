import type { Metadata, SearchHit } from "@engram/contract";
import type { Database } from "../db/database.ts";
import { compileFilter } from "./filter-sql.ts";
import { MEMORY_COLUMNS, type Scope, scopeSql, toMemory } from "./memory-store.ts";

export interface SearchRequest {
  scope: Scope;
  /** Metadata filter, already validated by the service (compileFilter throws on bad input). */
  filter?: Record<string, unknown> | undefined;
  vector: string;
  keywords: string;
  limit: number;
  threshold?: number | undefined;
  mode: "hybrid" | "vector" | "keyword";
}

/** Reciprocal rank fusion constant (Cormack et al. 2009); 60 is the customary value. */
const RRF_K = 60;

/**
 * Hybrid search in one statement: the nearest neighbours by cosine distance (HNSW) and the best
 * full-text matches, each ranked, fused by reciprocal rank. The fused score is normalised so that
 * ranking first on both sides gives 1. Every hit carries its cosine similarity and keyword rank.
 */
export function createMemorySearchStore(db: Database, model: { id: string; dimension: number }) {
  // Model id and dimension come from validated configuration, not from requests; they must be
  // literals so the planner can match the per-model partial HNSW index.
  const emb = `embedding::vector(${model.dimension})`;
  const embM = `m.${emb}`;
  const queryVec = `$2::vector(${model.dimension})`;
  const columns = MEMORY_COLUMNS.split(", ")
    .map((c) => `m.${c}`)
    .join(", ");
  const modelPredicate = `embedding_model = '${model.id}'`;

  return (tenantId: string, req: SearchRequest) =>
    db.withTenant(tenantId, async (tx) => {
      const candidates = Math.max(req.limit * 3, 40);
      await tx.query(
        "SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)",
        [String(Math.min(Math.max(candidates, 40), 1000))],
      );
      const params: unknown[] = [tenantId, req.vector, req.keywords, candidates];
      let where = `tenant_id = $1 AND ${modelPredicate}${scopeSql(req.scope, params)}`;
      if (req.filter) {
        const compiled = compileFilter(req.filter, "metadata", params.length + 1);
        where += ` AND ${compiled.sql}`;
        params.push(...compiled.params);
      }
      const useVector = req.mode !== "keyword";
      const useKeyword = req.mode !== "vector" && req.keywords !== "";
      params.push(req.limit);
      const limitParam = `$${params.length}`;
      let thresholdSql = "";
      if (req.threshold !== undefined) {
        params.push(req.threshold);
        thresholdSql = `WHERE 1 - (${embM} <=> ${queryVec}) >= $${params.length}`;
      }
      const rows = await tx.query<Record<string, unknown>>(
        `WITH vec AS MATERIALIZED (
           SELECT id FROM memories WHERE ${useVector ? where : "false"}
           ORDER BY ${emb} <=> ${queryVec} LIMIT $4
         ), kw AS MATERIALIZED (
           SELECT id, ts_rank_cd(fts, q, 1) AS rank
           FROM memories, to_tsquery('english', $3) q
           WHERE ${useKeyword ? where : "false"} AND fts @@ q
           ORDER BY rank DESC, id LIMIT $4
         ), vr AS (
           SELECT v.id, row_number() OVER (ORDER BY ${embM} <=> ${queryVec}) AS r
           FROM vec v JOIN memories m ON m.id = v.id
         ), kr AS (
           SELECT id, rank, row_number() OVER (ORDER BY rank DESC, id) AS r FROM kw
         ), fused AS (
           SELECT coalesce(vr.id, kr.id) AS id, kr.rank,
                  coalesce(1.0 / (${RRF_K} + vr.r), 0) + coalesce(1.0 / (${RRF_K} + kr.r), 0) AS rrf
           FROM vr FULL OUTER JOIN kr ON vr.id = kr.id
         )
         SELECT ${columns},
                1 - (${embM} <=> ${queryVec}) AS vector_score,
                f.rank AS keyword_score, f.rrf
         FROM fused f JOIN memories m ON m.id = f.id
         ${thresholdSql}
         ORDER BY f.rrf DESC, m.id DESC
         LIMIT ${limitParam}`,
        params,
      );
      const sides = (useVector ? 1 : 0) + (useKeyword ? 1 : 0) || 1;
      const best = sides / (RRF_K + 1);
      return rows.map((r): SearchHit => {
        const memory = toMemory(r as unknown as Parameters<typeof toMemory>[0]);
        return {
          ...memory,
          metadata: memory.metadata as Metadata,
          score: Number(r.rrf) / best,
          scores: {
            vector: Number(r.vector_score),
            keyword: r.keyword_score === null ? null : Number(r.keyword_score),
          },
        };
      });
    });
}
export type MemorySearchStore = ReturnType<typeof createMemorySearchStore>;
