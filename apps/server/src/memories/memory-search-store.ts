import type { Metadata, SearchHit } from "@engram/contract";
import type { Database, Queryable } from "../db/database.ts";
import { compileFilter, type FilterOptions } from "../search/filter-sql.ts";
import { candidateCount, FUSED_CTE, fusedScore } from "../search/fusion.ts";
import { KEYWORD_POSTINGS_BUDGET, type KeywordPlan, planKeywords } from "../search/keyword-plan.ts";
import { tsqueryLiteral } from "../search/query-text.ts";
import { type PoolRow, rankPool } from "../search/ranking.ts";
import { scopeSql } from "../search/scope-sql.ts";
import { vectorScanSettings } from "../search/vector-scan.ts";
import { MEMORY_COLUMNS, toMemory } from "./memory-row.ts";
import type { MemoryScope } from "./memory-store.ts";
import { type Validity, validitySql } from "./memory-validity.ts";

/** Memory filters also address the memory's categories (filter-sql.ts); knowledge's do not. */
export const MEMORY_FILTER_OPTIONS: FilterOptions = { categories: "to_jsonb(categories)" };

/** A link to a query entity where the memory only mentions it counts for this much of one where its speaker is the entity. */
const MENTION_WEIGHT = 0.3;

export interface SearchRequest {
  /** The project is always given: keyword statistics and postings are per project. */
  scope: MemoryScope & { projectId: string };
  /** Metadata filter, already validated by the service (compileFilter throws on bad input). */
  filter?: Record<string, unknown> | undefined;
  vector: string;
  /** The query's words as keywordQuery() gives them ("w1 | w2 | …"). */
  keywords: string;
  limit: number;
  threshold?: number | undefined;
  mode: "hybrid" | "vector" | "keyword";
  /** Current memories (the default), those valid at an instant, or all (memory-validity.ts). */
  validity?: Validity | undefined;
  /**
   * Hybrid ranking with context (search/ranking.ts, ADR 0033). Absent: the plain two-list
   * fusion. `entities` are the query's entities with their weights (1 named, less one hop
   * away); `window` the time window the query names; `neighbours` whether session neighbours
   * lend their scores.
   */
  context?:
    | {
        entities: readonly { id: string; weight: number }[];
        window?: { from: Date; to: Date } | undefined;
        neighbours: boolean;
        recency?: { halfLifeDays: number; weight: number; reference: Date } | undefined;
      }
    | undefined;
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

  /**
   * The pool of a ranking with context: the vector, keyword, entity and time-window candidates
   * and their session neighbours, each with every score (search/ranking.ts ranks them). Every
   * member, neighbours included, passes `where` (scope, validity, filter).
   */
  async function pooledSearch(
    tx: Queryable,
    req: SearchRequest,
    context: NonNullable<SearchRequest["context"]>,
    q: {
      where: string;
      keyword: string;
      param: (value: unknown) => string;
      params: unknown[];
      /** A memory's keyword score in SQL (the sum of the weights of the query terms it has). */
      keywordScore: string;
      /** The parameter holding candidateCount(req.limit). */
      candidates: string;
    },
  ): Promise<SearchHit[]> {
    const { where, keyword, param, params, keywordScore } = q;
    const candidates = candidateCount(req.limit);
    const c = q.candidates;
    const useEntities = context.entities.length > 0;
    const entityIds = useEntities ? param(context.entities.map((e) => e.id)) : "";
    const entityWeights = useEntities ? param(context.entities.map((e) => e.weight)) : "";
    const window = context.window;
    const from = window ? param(window.from.toISOString()) : "NULL";
    const to = window ? param(window.to.toISOString()) : "NULL";
    // The session test comes first inside the subquery: on a memory without a session it is a
    // one-time filter and the subquery reads nothing (as a join condition it ran anyway, and could
    // walk the tenant's whole id index looking for a NULL session).
    const side = (dir: "<" | ">", order: "DESC" | "ASC") =>
      `LEFT JOIN LATERAL (SELECT id FROM memories
         WHERE ${context.neighbours ? "m.session_id IS NOT NULL" : "false"} AND ${where}
           AND session_id = m.session_id AND id ${dir} m.id ORDER BY id ${order} LIMIT 1)
         AS ${dir === "<" ? "p" : "n"} ON true`;
    // The pool holds each member once, a seed with its neighbours' ids. Joining `around` again for
    // those ids instead took the statement from 5 to 26 ms at 1M memories (a tenant of 901).
    const rows = await tx.query<{
      id: string;
      vector: number;
      keyword: number;
      entity: number | null;
      in_window: boolean | null;
      valid_from: Date;
      prev: string | null;
      next: string | null;
    }>(
      `WITH vec AS MATERIALIZED (
         SELECT id FROM memories WHERE ${where} ORDER BY ${emb} <=> ${queryVec} LIMIT ${c}
       ), kw AS MATERIALIZED (
         ${keyword}
       ), ent AS MATERIALIZED (
         ${
           useEntities
             ? `SELECT DISTINCT l.memory_id AS id FROM memory_entities l
                WHERE l.tenant_id = $1 AND l.entity_id = ANY(${entityIds}::text[])
                  AND EXISTS (SELECT 1 FROM memories WHERE id = l.memory_id AND ${where})
                ORDER BY l.memory_id DESC LIMIT ${c} * 2`
             : "SELECT NULL::text AS id WHERE false"
         }
       ), win AS MATERIALIZED (
         SELECT id FROM memories
         WHERE ${window ? "true" : "false"} AND ${where}
           AND valid_from >= ${from}::timestamptz AND valid_from < ${to}::timestamptz
         ORDER BY ${emb} <=> ${queryVec} LIMIT ${c}
       ), seed AS MATERIALIZED (
         SELECT id FROM vec UNION SELECT id FROM kw UNION SELECT id FROM ent UNION SELECT id FROM win
       ), around AS MATERIALIZED (
         SELECT m.id, p.id AS prev, n.id AS next
         FROM seed s JOIN memories m ON m.id = s.id ${side("<", "DESC")} ${side(">", "ASC")}
       ), pool AS (
         SELECT id, max(prev) AS prev, max(next) AS next FROM (
           SELECT id, prev, next FROM around
           UNION ALL SELECT prev, NULL, NULL FROM around WHERE prev IS NOT NULL
           UNION ALL SELECT next, NULL, NULL FROM around WHERE next IS NOT NULL
         ) members GROUP BY id
       )
       SELECT m.id, 1 - (${embM} <=> ${queryVec}) AS vector, ${keywordScore} AS keyword,
              ${
                useEntities
                  ? `(SELECT sum(w.weight * CASE l.role WHEN 'speaker' THEN 1 ELSE ${MENTION_WEIGHT} END)
                      FROM memory_entities l
                      JOIN unnest(${entityIds}::text[], ${entityWeights}::float8[]) AS w(id, weight)
                        ON w.id = l.entity_id
                      WHERE l.memory_id = m.id)`
                  : "0"
              } AS entity,
              (m.valid_from >= ${from}::timestamptz AND m.valid_from < ${to}::timestamptz) AS in_window,
              m.valid_from, pool.prev, pool.next
       FROM pool JOIN memories m ON m.id = pool.id`,
      params,
    );
    const adjacent: [string, string][] = [];
    for (const r of rows) {
      if (r.prev) adjacent.push([r.id, r.prev]);
      if (r.next) adjacent.push([r.id, r.next]);
    }
    const pool: PoolRow[] = rows.map((r) => ({
      id: r.id,
      vector: Number(r.vector),
      keyword: Number(r.keyword),
      entity: Number(r.entity ?? 0),
      inWindow: r.in_window === true,
      validFrom: new Date(r.valid_from),
    }));
    const byId = new Map(pool.map((r) => [r.id, r]));
    let ranked = rankPool(pool, adjacent, {
      candidates,
      entities: useEntities,
      time: window !== undefined,
      recency: context.recency,
    });
    if (req.threshold !== undefined) {
      const threshold = req.threshold;
      ranked = ranked.filter((r) => (byId.get(r.id)?.vector ?? 0) >= threshold);
    }
    ranked = ranked.slice(0, req.limit);
    if (ranked.length === 0) return [];
    const found = await tx.query<Record<string, unknown>>(
      `SELECT ${MEMORY_COLUMNS} FROM memories WHERE tenant_id = $1 AND id = ANY($2::text[])`,
      [params[0], ranked.map((r) => r.id)],
    );
    const memories = new Map(found.map((r) => [r.id as string, r]));
    return ranked.flatMap((r): SearchHit[] => {
      const row = memories.get(r.id);
      const scores = byId.get(r.id);
      if (!row || !scores) return [];
      const memory = toMemory(row as unknown as Parameters<typeof toMemory>[0]);
      return [
        {
          ...memory,
          metadata: memory.metadata as Metadata,
          score: r.score,
          scores: {
            vector: scores.vector,
            keyword: scores.keyword > 0 ? scores.keyword : null,
            entity: useEntities ? scores.entity : null,
            rerank: null,
            time: window ? (scores.inWindow ? 1 : 0) : null,
            ...(r.recency !== undefined ? { recency: r.recency } : {}),
          },
        },
      ];
    });
  }

  return (tenantId: string, req: SearchRequest) => {
    const candidates = candidateCount(req.limit);
    return db.readTenant(
      tenantId,
      async (tx) => {
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
        // Every candidate list (vector, keyword scoped and unscoped) is restricted by `where`, so
        // the validity predicate holds for all of them. On the vector side it is one more filter
        // the HNSW scan applies as it goes (iterative scan keeps going until enough rows pass).
        let where = `tenant_id = $1 AND ${modelPredicate}${scopeSql(req.scope, params)}${validitySql(
          req.validity ?? {},
          params,
        )}`;
        if (req.filter) {
          const compiled = compileFilter(
            req.filter,
            "metadata",
            params.length + 1,
            MEMORY_FILTER_OPTIONS,
          );
          where += ` AND ${compiled.sql}`;
          params.push(...compiled.params);
        }

        // A memory's keyword score: the weights of the query terms its text has, summed.
        const rank = useKeyword
          ? (plan?.terms ?? [])
              .map(
                (t) =>
                  `CASE WHEN fts @@ ${param(tsqueryLiteral(t.lexeme))}::tsquery THEN ${param(t.weight)}::float8 ELSE 0 END`,
              )
              .join(" + ")
          : "0::float8";
        let keyword = "SELECT NULL::text AS id, NULL::float8 AS rank WHERE false";
        if (useKeyword && plan) {
          if (scoped) {
            // A scope bounds the work by its own size: its index, then each memory's text.
            const any = plan.terms.map((t) => tsqueryLiteral(t.lexeme)).join(" | ");
            keyword = `SELECT id, ${rank} AS rank FROM memories
                     WHERE ${where} AND fts @@ ${param(any)}::tsquery
                     ORDER BY rank DESC, id LIMIT ${candidateParam}`;
          } else {
            // Unscoped: the generating terms' postings (at most `budget`) give each memory a
            // partial score; the best few are then looked up, filtered and scored on every term.
            // A metadata filter, or an instant in the past, can reject many of them, so they get a
            // longer shortlist.
            const selective = req.filter !== undefined || req.validity?.asOf !== undefined;
            const shortlist = candidates * (selective ? 10 : 3);
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
        if (req.context && req.mode === "hybrid") {
          return pooledSearch(tx, req, req.context, {
            where,
            keyword,
            param,
            params,
            keywordScore: rank,
            candidates: candidateParam,
          });
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
        const sides = (useVector ? 1 : 0) + (keywordSide ? 1 : 0);
        return rows.map((r): SearchHit => {
          const memory = toMemory(r as unknown as Parameters<typeof toMemory>[0]);
          return {
            ...memory,
            metadata: memory.metadata as Metadata,
            score: fusedScore(Number(r.rrf), sides),
            scores: {
              vector: Number(r.vector_score),
              keyword: r.keyword_score === null ? null : Number(r.keyword_score),
              // Set by the re-ranking step, when there is one (rerank/rerank-hits.ts).
              rerank: null,
            },
          };
        });
      },
      vectorScanSettings(candidates),
    );
  };
}
export type MemorySearchStore = ReturnType<typeof createMemorySearchStore>;
