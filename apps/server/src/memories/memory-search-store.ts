import type { Metadata, SearchHit } from "@engram/contract";
import type { Database } from "../db/database.ts";
import { compileFilter } from "./filter-sql.ts";
import { MEMORY_COLUMNS, type Scope, scopeSql, toMemory } from "./memory-store.ts";
import { tsqueryLiteral } from "./memory-text.ts";

export interface SearchRequest {
  /** The project is always given: keyword statistics and postings are per project. */
  scope: Scope & { projectId: string };
  /** Metadata filter, already validated by the service (compileFilter throws on bad input). */
  filter?: Record<string, unknown> | undefined;
  vector: string;
  /** The query's words as keywordQuery() gives them ("w1 | w2 | …"). */
  keywords: string;
  limit: number;
  threshold?: number | undefined;
  mode: "hybrid" | "vector" | "keyword";
}

/**
 * Reciprocal rank fusion constant. 60 (Cormack et al. 2009) was tuned for fusing many deep TREC
 * runs; with two lists and the top 10 what matters, a smaller k lets a first place on one side
 * count for more than a middling place on both (LoCoMo dev recall@10: k = 60 → 64.2 %, 10 → 68.6 %).
 */
export const RRF_K = 10;

/**
 * The `fused` CTE of a hybrid search: reciprocal-rank fusion of the CTEs `vec (id, dist)` and
 * `kw (id, rank)`, giving `(id, rank, rrf)`. Shared by memory and knowledge search.
 */
export const FUSED_CTE = `fused AS MATERIALIZED (
           SELECT coalesce(v.id, k.id) AS id, k.rank,
                  coalesce(1.0 / (${RRF_K} + v.r), 0) + coalesce(1.0 / (${RRF_K} + k.r), 0) AS rrf
           FROM (SELECT id, row_number() OVER (ORDER BY dist, id) AS r FROM vec) v
           FULL OUTER JOIN (SELECT id, rank, row_number() OVER (ORDER BY rank DESC, id) AS r FROM kw) k
             ON v.id = k.id
         )`;

/**
 * Bound on the postings an unscoped search reads: the query's rarest terms generate candidates
 * only while their summed document frequency stays within it, and if even the rarest term is
 * more common, only its newest this-many postings are read.
 */
export const KEYWORD_POSTINGS_BUDGET = 5000;

/** BM25's inverse document frequency of a term in `df` of `n` memories (always > 0). */
export function idf(df: number, n: number): number {
  return Math.log(1 + (Math.max(n, df) - df + 0.5) / (df + 0.5));
}

export interface KeywordPlan {
  /** The query's lexemes that occur in the project, with their IDF weights. */
  terms: { lexeme: string; weight: number }[];
  /** Lexemes whose postings generate candidates in an unscoped search, rarest first. */
  generating: { lexeme: string; weight: number }[];
  /** True when even the rarest term exceeds the budget: take its newest postings only. */
  newestOnly: boolean;
}

/**
 * Weights each query lexeme by its IDF among the project's `n` memories and picks the rarest
 * lexemes, up to `budget` postings in all (at least one), to generate candidates. A memory that
 * has none of them can only match common terms, so it could rarely outrank one that has.
 */
export function planKeywords(
  stats: { lexeme: string; docs: number }[],
  n: number,
  budget = KEYWORD_POSTINGS_BUDGET,
): KeywordPlan {
  const present = stats
    .filter((s) => s.docs > 0)
    .sort((a, b) => a.docs - b.docs || (a.lexeme < b.lexeme ? -1 : a.lexeme > b.lexeme ? 1 : 0));
  const terms = present.map((s) => ({ lexeme: s.lexeme, weight: idf(s.docs, n) }));
  let postings = 0;
  let count = 0;
  for (const s of present) {
    postings += s.docs;
    if (count > 0 && postings > budget) break;
    count++;
  }
  return {
    terms,
    generating: terms.slice(0, count),
    newestOnly: present.length > 0 && (present[0] as { docs: number }).docs > budget,
  };
}

/**
 * Hybrid search: the nearest neighbours by cosine distance (HNSW) and the best keyword matches,
 * each ranked, fused by reciprocal rank. The keyword score of a memory is the sum of the IDF
 * weights of the query's terms it contains (BM25 with binary term frequency and no length
 * normalisation). The fused score is normalised so that ranking first on both sides gives 1.
 * Every hit carries its cosine similarity, and its keyword score when it was a keyword candidate.
 */
export function createMemorySearchStore(
  db: Database,
  model: { id: string; dimension: number },
  opts: { keywordPostingsBudget?: number } = {},
) {
  const budget = opts.keywordPostingsBudget ?? KEYWORD_POSTINGS_BUDGET;
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
      let plan: KeywordPlan | undefined;
      if (req.mode !== "vector" && req.keywords !== "") {
        // The query's lexemes with their document frequencies in the project, and (lexeme '')
        // the project's memory count.
        const stats = await tx.query<{ lexeme: string; docs: number }>(
          `SELECT l.lexeme, coalesce(s.docs, 0) AS docs
           FROM unnest(tsvector_to_array(to_tsvector('english', $2)) || ''::text) AS l(lexeme)
           LEFT JOIN memory_term_stats s
             ON s.tenant_id = $1 AND s.project_id = $3 AND s.lexeme = l.lexeme`,
          [tenantId, req.keywords, req.scope.projectId],
        );
        const n = Number(stats.find((s) => s.lexeme === "")?.docs ?? 0);
        plan = planKeywords(
          stats.filter((s) => s.lexeme !== "").map((s) => ({ ...s, docs: Number(s.docs) })),
          n,
          budget,
        );
      }
      const useVector = req.mode !== "keyword";
      // The keyword side counts in the score's normalisation whenever the query has words, even
      // if none of them occurs in the project (as before: scores do not jump when one starts to).
      const keywordSide = req.mode !== "vector" && req.keywords !== "";
      const useKeyword = plan !== undefined && plan.terms.length > 0;
      // Keyword mode with no query term in the project: no side has candidates.
      if (!useVector && !useKeyword) return [];

      const params: unknown[] = [tenantId, req.vector];
      const param = (value: unknown) => `$${params.push(value)}`;
      const candidateParam = param(candidates);
      const { userId, agentId, sessionId } = req.scope;
      const scoped = userId !== undefined || agentId !== undefined || sessionId !== undefined;
      let where = `tenant_id = $1 AND ${modelPredicate}${scopeSql(req.scope, params)}`;
      if (req.filter) {
        const compiled = compileFilter(req.filter, "metadata", params.length + 1);
        where += ` AND ${compiled.sql}`;
        params.push(...compiled.params);
      }

      let keyword = "SELECT NULL::text AS id, NULL::float8 AS rank WHERE false";
      if (useKeyword && plan) {
        const rank = plan.terms
          .map(
            (t) =>
              `CASE WHEN fts @@ ${param(tsqueryLiteral(t.lexeme))}::tsquery THEN ${param(t.weight)}::float8 ELSE 0 END`,
          )
          .join(" + ");
        if (scoped) {
          // A scope bounds the work by its own size: its index, then each memory's text.
          const any = plan.terms.map((t) => tsqueryLiteral(t.lexeme)).join(" | ");
          keyword = `SELECT id, ${rank} AS rank FROM memories
                     WHERE ${where} AND fts @@ ${param(any)}::tsquery
                     ORDER BY rank DESC, id LIMIT ${candidateParam}`;
        } else {
          // Unscoped: the generating terms' postings (at most `budget`) give each memory a
          // partial score; the best few are then looked up, filtered and scored on every term.
          // A metadata filter can reject many of them, so it gets a longer shortlist.
          const shortlist = candidates * (req.filter ? 10 : 3);
          const postings = `SELECT lexeme, memory_id FROM memory_terms
             WHERE tenant_id = $1 AND project_id = ${param(req.scope.projectId)}
               AND lexeme = ANY(${param(plan.generating.map((t) => t.lexeme))}::text[])
             ${plan.newestOnly ? `ORDER BY memory_id DESC LIMIT ${param(budget)}` : ""}`;
          keyword = `SELECT m.id, ${rank} AS rank
             FROM (SELECT p.memory_id, sum(w.weight) AS partial
                   FROM (${postings}) p
                   JOIN unnest(${param(plan.generating.map((t) => t.lexeme))}::text[],
                               ${param(plan.generating.map((t) => t.weight))}::float8[]) AS w(lexeme, weight)
                     ON w.lexeme = p.lexeme
                   GROUP BY p.memory_id
                   ORDER BY partial DESC, p.memory_id DESC LIMIT ${param(shortlist)}) c
             JOIN memories m ON m.id = c.memory_id
             WHERE ${where}
             ORDER BY rank DESC, m.id LIMIT ${candidateParam}`;
        }
      }
      const limitParam = param(req.limit);
      const thresholdSql =
        req.threshold === undefined
          ? ""
          : `WHERE 1 - (${embM} <=> ${queryVec}) >= ${param(req.threshold)}`;
      // Each list is materialised and small; joining back by primary key keeps the planner off
      // a scan of the whole table.
      const rows = await tx.query<Record<string, unknown>>(
        `WITH vec AS MATERIALIZED (
           SELECT id, ${emb} <=> ${queryVec} AS dist FROM memories WHERE ${useVector ? where : "false"}
           ORDER BY dist LIMIT ${candidateParam}
         ), kw AS MATERIALIZED (
           ${keyword}
         ), ${FUSED_CTE}
         SELECT ${columns},
                1 - (${embM} <=> ${queryVec}) AS vector_score,
                f.rank AS keyword_score, f.rrf
         FROM fused f JOIN memories m ON m.id = f.id
         ${thresholdSql}
         ORDER BY f.rrf DESC, m.id DESC
         LIMIT ${limitParam}`,
        params,
      );
      const sides = (useVector ? 1 : 0) + (keywordSide ? 1 : 0) || 1;
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
