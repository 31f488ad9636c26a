import type { KnowledgeHit, Metadata } from "@engram/contract";
import type { Database } from "../db/database.ts";
import { compileFilter } from "../search/filter-sql.ts";
import { candidateCount, FUSED_CTE, fusedScore } from "../search/fusion.ts";
import { type Scope, scopeSql } from "../search/scope-sql.ts";
import { vectorScanSettings } from "../search/vector-scan.ts";

export interface KnowledgeSearchRequest {
  projectId: string;
  /**
   * userId, agentId and sessionId match a chunk of that user (agent, session) or one with none:
   * knowledge uploaded without a user is shared by every user of the project (ADR 0019), without
   * a session by every session (ADR 0030). collection matches exactly.
   */
  scope: Pick<Scope, "userId" | "agentId" | "sessionId" | "collection">;
  /** Chunks of these collections only (an empty list matches none): an agent's knowledge. */
  collections?: readonly string[] | undefined;
  /**
   * Shared chunks only: of no user and no session, and of no agent or this one. What an agent
   * may quote to any visitor (docs/chat.md): a document uploaded for a user stays theirs.
   */
  sharedFor?: { agentId: string } | undefined;
  /** Metadata filter on the chunk's document, already validated by the service. */
  filter?: Record<string, unknown> | undefined;
  documentId?: string | undefined;
  vector: string;
  /** The query's words OR-ed ("w1 | w2"), as keywordQuery() gives them. */
  keywords: string;
  limit: number;
  mode: "hybrid" | "vector" | "keyword";
}

/**
 * The statement of a knowledge search (see createKnowledgeSearchStore) with its parameters, and
 * how many sides it ranks; undefined when no side has candidates (keyword mode, no words).
 */
export function knowledgeSearchSql(
  model: { id: string; dimension: number },
  tenantId: string,
  req: KnowledgeSearchRequest,
): { sql: string; params: unknown[]; sides: number; candidates: number } | undefined {
  const useVector = req.mode !== "keyword";
  const useKeyword = req.mode !== "vector" && req.keywords !== "";
  if (!useVector && !useKeyword) return undefined;
  const emb = `c.embedding::vector(${model.dimension})`;
  const queryVec = `$2::vector(${model.dimension})`;
  const params: unknown[] = [tenantId, req.vector];
  const scope = { ...req.scope, projectId: req.projectId, documentId: req.documentId };
  // Model id and dimension come from validated configuration, not from requests; they must be
  // literals so the planner can match the per-model partial HNSW index.
  let where = `c.tenant_id = $1 AND c.embedding_model = '${model.id}'`;
  where += scopeSql(scope, params, { alias: "c.", owners: "ownOrShared" });
  if (req.collections) where += ` AND c.collection = ANY($${params.push(req.collections)})`;
  if (req.sharedFor) {
    where += ` AND c.user_id IS NULL AND c.session_id IS NULL
               AND (c.agent_id IS NULL OR c.agent_id = $${params.push(req.sharedFor.agentId)})`;
  }
  if (req.filter) {
    // Metadata lives on the document (a chunk has none of its own). A scalar subquery, not
    // EXISTS: the planner never turns it into a join, so it stays a filter of the index scan,
    // one primary-key lookup per chunk the scan yields.
    const compiled = compileFilter(req.filter, "d.metadata", params.length + 1);
    params.push(...compiled.params);
    where += ` AND coalesce((SELECT ${compiled.sql} FROM documents d
                WHERE d.tenant_id = c.tenant_id AND d.id = c.document_id), false)`;
  }
  const count = candidateCount(req.limit);
  const candidates = `$${params.push(count)}`;
  const tsq = useKeyword ? `to_tsquery('english', $${params.push(req.keywords)})` : "NULL";
  const sql = `WITH vec AS MATERIALIZED (
       SELECT c.id, ${emb} <=> ${queryVec} AS dist FROM knowledge_chunks c
       WHERE ${useVector ? where : "false"} ORDER BY dist LIMIT ${candidates}
     ), kw AS MATERIALIZED (
       SELECT c.id, ts_rank_cd(c.fts, ${tsq}) AS rank FROM knowledge_chunks c
       WHERE ${useKeyword ? `${where} AND c.fts @@ ${tsq}` : "false"}
       ORDER BY rank DESC, c.id LIMIT ${candidates}
     ), ${FUSED_CTE}
     SELECT c.id, c.text, c.ordinal, c.page, c.heading_path, c.start_offset, c.end_offset,
            c.collection, d.id AS document_id, d.filename, d.media_type, d.metadata,
            1 - (${emb} <=> ${queryVec}) AS vector_score, f.rank AS keyword_score, f.rrf
     FROM fused f JOIN knowledge_chunks c ON c.id = f.id JOIN documents d ON d.id = c.document_id
     ORDER BY f.rrf DESC, c.id DESC
     LIMIT $${params.push(req.limit)}`;
  const sides = (useVector ? 1 : 0) + (useKeyword ? 1 : 0);
  return { sql, params, sides, candidates: useVector ? count : 0 };
}

/**
 * Hybrid search over a project's document chunks, the same shape as memory search (ADR 0004):
 * nearest neighbours by cosine distance and the best full-text matches (ts_rank_cd over heading
 * path and text), fused by reciprocal rank and normalised so first on both sides scores 1. Each
 * hit carries its citation: document, page, heading path and offsets. ts_rank_cd looks at the
 * chunk alone (no corpus statistics), so `scores.keyword` reveals nothing about other chunks.
 * The vector side scans the model's HNSW index (db/vector-index.ts); scope and metadata filter
 * are applied as it goes, iterative scan feeding it until enough chunks pass.
 */
export function createKnowledgeSearchStore(db: Database, model: { id: string; dimension: number }) {
  return async (tenantId: string, req: KnowledgeSearchRequest): Promise<KnowledgeHit[]> => {
    const search = knowledgeSearchSql(model, tenantId, req);
    if (!search) return [];
    const { sql, params, sides, candidates } = search;
    const settings = candidates > 0 ? vectorScanSettings(candidates) : {};
    const rows = await db.readTenant(
      tenantId,
      (tx) => tx.query<Record<string, unknown>>(sql, params),
      settings,
    );
    return rows.map(
      (r): KnowledgeHit => ({
        type: "knowledge",
        id: r.id as string,
        text: r.text as string,
        collection: r.collection as string | null,
        metadata: r.metadata as Metadata,
        citation: {
          document_id: r.document_id as string,
          filename: r.filename as string,
          media_type: r.media_type as string,
          chunk_index: Number(r.ordinal),
          page: r.page === null ? null : Number(r.page),
          heading_path: r.heading_path as string[],
          start_offset: Number(r.start_offset),
          end_offset: Number(r.end_offset),
        },
        score: fusedScore(Number(r.rrf), sides),
        scores: {
          vector: Number(r.vector_score),
          keyword: r.keyword_score === null ? null : Number(r.keyword_score),
          // Set by the re-ranking step, when there is one (rerank/rerank-hits.ts).
          rerank: null,
        },
      }),
    );
  };
}
export type KnowledgeSearchStore = ReturnType<typeof createKnowledgeSearchStore>;
