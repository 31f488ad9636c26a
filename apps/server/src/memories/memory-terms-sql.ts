import type { Queryable } from "../db/database.ts";

/**
 * Keyword-search bookkeeping (migrations 0004, 0010): memory_terms holds one posting per (memory,
 * lexeme of its text), memory_term_stats each lexeme's document frequency and, under lexeme '',
 * the memory count, both per project: a project's keyword scores depend on its own memories only.
 * Every write of memory text updates both in its own transaction.
 *
 * The statistics are upserted in lexeme order, '' first, by ±1 per row of `lexemes` (a relation
 * with a lexeme column) and per row of `memories` (the '' count), for the project in parameter
 * `project` (the tenant is $1): concurrent writers in a project then lock these rows in one order
 * and cannot deadlock (a write never touches two projects).
 */
function termStatsUpsert(lexemes: string, memories: string, sign: 1 | -1, project: string): string {
  return `INSERT INTO memory_term_stats (tenant_id, project_id, lexeme, docs)
    SELECT $1, ${project}, lexeme, ${sign} * count(*)
    FROM (SELECT lexeme FROM ${lexemes} UNION ALL SELECT '' FROM ${memories}) AS c
    GROUP BY lexeme ORDER BY lexeme
    ON CONFLICT (tenant_id, project_id, lexeme)
    DO UPDATE SET docs = memory_term_stats.docs + excluded.docs`;
}

/** Adds the postings of these memories (as their text is now) and counts them in the statistics. */
export async function indexTerms(
  tx: Queryable,
  tenantId: string,
  projectId: string,
  ids: string[],
): Promise<void> {
  if (ids.length === 0) return;
  await tx.query(
    `WITH added AS (
       INSERT INTO memory_terms (tenant_id, project_id, lexeme, memory_id)
       SELECT m.tenant_id, m.project_id, l.lexeme, m.id
       FROM memories m, unnest(tsvector_to_array(m.fts)) AS l(lexeme)
       WHERE m.tenant_id = $1 AND m.project_id = $3 AND m.id = ANY($2::text[])
       RETURNING lexeme
     ), indexed AS (SELECT unnest($2::text[]) AS id)
     ${termStatsUpsert("added", "indexed", 1, "$3")}`,
    [tenantId, ids, projectId],
  );
}

/** Removes the postings of these memories (as their text is now) and uncounts them. */
export async function unindexTerms(
  tx: Queryable,
  tenantId: string,
  projectId: string,
  ids: string[],
): Promise<void> {
  if (ids.length === 0) return;
  await tx.query(
    `WITH removed AS (
       DELETE FROM memory_terms t
       USING memories m, unnest(tsvector_to_array(m.fts)) AS l(lexeme)
       WHERE m.tenant_id = $1 AND m.project_id = $3 AND m.id = ANY($2::text[])
         AND t.tenant_id = $1 AND t.project_id = $3 AND t.lexeme = l.lexeme AND t.memory_id = m.id
       RETURNING t.lexeme
     ), unindexed AS (SELECT unnest($2::text[]) AS id)
     ${termStatsUpsert("removed", "unindexed", -1, "$3")}`,
    [tenantId, ids, projectId],
  );
}

/**
 * Deletes a project's statistics rows that dropped to zero. Run after an uncounting upsert, whose
 * '' row lock keeps every other writer of the project out of the statistics until commit; SKIP
 * LOCKED is only a guard against ever waiting here.
 */
export async function dropUnusedTermStats(
  tx: Queryable,
  tenantId: string,
  projectId: string,
): Promise<void> {
  await tx.query(
    `DELETE FROM memory_term_stats WHERE (tenant_id, project_id, lexeme) IN (
       SELECT tenant_id, project_id, lexeme FROM memory_term_stats
       WHERE tenant_id = $1 AND project_id = $2 AND docs <= 0 FOR UPDATE SKIP LOCKED)`,
    [tenantId, projectId],
  );
}

/**
 * SQL for the CTEs `removed` and `counted` that drop the postings of the rows a CTE named `deleted`
 * returned (with their id and fts) and uncount them, in the deleting statement itself: those rows
 * are gone before any later statement could read their fts. Follow with dropUnusedTermStats.
 */
export function unindexDeletedTermsSql(deleted: string, project: string): string {
  return `removed AS (
             DELETE FROM memory_terms t
             USING ${deleted} g, unnest(tsvector_to_array(g.fts)) AS l(lexeme)
             WHERE t.tenant_id = $1 AND t.project_id = ${project} AND t.lexeme = l.lexeme
               AND t.memory_id = g.id
             RETURNING t.lexeme
           ), counted AS (
             ${termStatsUpsert("removed", deleted, -1, project)}
           )`;
}
