import { createHmac } from "node:crypto";
import type { Queryable } from "../db/database.ts";
import { scopedIdempotency } from "../db/idempotency.ts";
import { lockEntities } from "../entities/entity-links.ts";
import { eventIdempotency } from "../memories/memory-event-worker.ts";
import { dropUnusedTermStats, unindexDeletedTermsSql } from "../memories/memory-terms-sql.ts";
import { MEMORY_BYTES_SQL } from "../usage/metering.ts";

/** Whose data an erasure removes: one end user of one project of one tenant. */
export interface ErasureTarget {
  tenantId: string;
  projectId: string;
  userId: string;
  /** The receipt's id: redacted audit rows point at it. */
  erasureId: string;
}

/** What an erasure frees, for the tenant's usage gauges. */
export interface Freed {
  memories: number;
  bytes: number;
}

/**
 * One table's part of an erasure, run in the erasure's transaction under the tenant's RLS: it
 * removes the user's rows and returns how many, by table (the receipt's counts).
 */
export interface ErasureStep {
  erase(tx: Queryable, target: ErasureTarget, freed: Freed): Promise<Record<string, number>>;
}

/** The parameters of most statements here: $1 tenant, $2 project, $3 user. */
const params = (t: ErasureTarget): unknown[] => [t.tenantId, t.projectId, t.userId];

/** The user's documents ($1 tenant, $2 project, $3 user). */
const USER_DOCUMENTS =
  "SELECT id FROM documents WHERE tenant_id = $1 AND project_id = $2 AND user_id = $3";

/**
 * The user's asynchronous adds: the request names the user (an add's `user_id`, or any body's of
 * a batch). A batch naming several users is the user's too: its request holds the user's content.
 */
const USER_EVENTS = `tenant_id = $1 AND project_id = $2 AND (
  request ->> 'user_id' = $3
  OR jsonb_path_exists(request, '$.memories[*] ? (@.user_id == $u)', jsonb_build_object('u', $3::text)))`;

/** A step that runs one statement counting `n` rows of one table, with `args` ($1 …). */
function rows(table: string, sql: string, args = params): ErasureStep {
  return {
    async erase(tx, target) {
      const [row] = await tx.query<{ n: number }>(sql, args(target));
      return { [table]: Number(row?.n ?? 0) };
    },
  };
}

/** `DELETE … WHERE <where>` of `table`, counted. */
const deleteWhere = (table: string, where: string) =>
  rows(
    table,
    `WITH gone AS (DELETE FROM ${table} WHERE ${where} RETURNING 1) SELECT count(*) AS n FROM gone`,
  );

/**
 * Idempotency-Keys first, while the user's rows still say which ids are the user's.
 *
 * An asynchronous add not finished yet may already be running in a worker, past reading its event:
 * an empty answer stored under the worker's key for it (memory-event-worker.ts) makes that add
 * replay "nothing added" instead of writing the user's memories after the erasure.
 *
 * Then every stored response naming one of the user's memories (the history's too), events or
 * documents goes: replayed, it would hand the user's text back. A retry with such a key after the
 * erasure runs as a new request.
 */
const idempotencyKeys: ErasureStep = {
  async erase(tx, target) {
    const unfinished = await tx.query<{ id: string }>(
      `SELECT id FROM memory_events WHERE ${USER_EVENTS} AND status IN ('queued', 'running')`,
      params(target),
    );
    const keys = unfinished.map(({ id }) =>
      scopedIdempotency(eventIdempotency(id), "memories", target.projectId, 0),
    );
    if (keys.length > 0) {
      await tx.query(
        `INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, response)
         SELECT $1, k.key, k.hash, 201, '{"results": []}'::jsonb
         FROM unnest($2::text[], $3::bytea[]) AS k(key, hash)
         ON CONFLICT (tenant_id, key) DO NOTHING`,
        [target.tenantId, keys.map((k) => k.key), keys.map((k) => k.requestHash)],
      );
    }
    const [row] = await tx.query<{ n: number }>(
      `WITH ids AS (
         SELECT id FROM memories WHERE tenant_id = $1 AND project_id = $2 AND user_id = $3
         UNION SELECT memory_id FROM memory_history
           WHERE tenant_id = $1 AND project_id = $2 AND user_id = $3
         UNION SELECT id FROM memory_events WHERE ${USER_EVENTS}
         UNION ${USER_DOCUMENTS}
       ), gone AS (
         DELETE FROM idempotency_keys k
         WHERE k.tenant_id = $1
           AND (starts_with(k.key, 'memories:' || $2 || ':') OR starts_with(k.key, 'documents:' || $2 || ':'))
           AND EXISTS (
             SELECT 1 FROM jsonb_path_query(k.response, 'strict $.**') AS v(value)
             JOIN ids ON ids.id = v.value #>> '{}'
             WHERE jsonb_typeof(v.value) = 'string')
         RETURNING 1
       )
       SELECT count(*) AS n FROM gone`,
      params(target),
    );
    return { idempotency_keys: Number(row?.n ?? 0) };
  },
};

/** The user's memories with their keyword postings (and statistics), in one statement. */
const memories: ErasureStep = {
  async erase(tx, target, freed) {
    const [row] = await tx.query<{ n: number; terms: number; bytes: string }>(
      `WITH gone AS (
         DELETE FROM memories WHERE tenant_id = $1 AND project_id = $2 AND user_id = $3
         RETURNING id, fts, ${MEMORY_BYTES_SQL} AS bytes
       ), ${unindexDeletedTermsSql("gone", "$2")}
       SELECT (SELECT count(*) FROM gone) AS n, (SELECT count(*) FROM removed) AS terms,
              (SELECT coalesce(sum(bytes), 0) FROM gone) AS bytes`,
      params(target),
    );
    const n = Number(row?.n ?? 0);
    if (n > 0) await dropUnusedTermStats(tx, target.tenantId, target.projectId);
    freed.memories += n;
    freed.bytes += Number(row?.bytes ?? 0);
    return { memories: n, memory_terms: Number(row?.terms ?? 0) };
  },
};

/** The user's documents; their bytes, chunks and jobs went in the steps before. */
const documents: ErasureStep = {
  async erase(tx, target, freed) {
    const [row] = await tx.query<{ n: number; bytes: string }>(
      `WITH gone AS (
         DELETE FROM documents WHERE tenant_id = $1 AND project_id = $2 AND user_id = $3
         RETURNING size_bytes + indexed_bytes AS bytes
       )
       SELECT count(*) AS n, coalesce(sum(bytes), 0) AS bytes FROM gone`,
      params(target),
    );
    freed.bytes += Number(row?.bytes ?? 0);
    return { documents: Number(row?.n ?? 0) };
  },
};

/** The user's entities and their names, under the project's entity lock. */
const userEntities: ErasureStep = {
  async erase(tx, target) {
    await lockEntities(tx, target.tenantId, target.projectId);
    const counts: Record<string, number> = {};
    for (const [table, where] of [
      ["entity_names", "tenant_id = $1 AND project_id = $2 AND owner = $3"],
      ["entities", "tenant_id = $1 AND project_id = $2 AND user_id = $3"],
    ] as const) {
      Object.assign(
        counts,
        await deleteWhere(table, where).erase(tx, target, { memories: 0, bytes: 0 }),
      );
    }
    return counts;
  },
};

/**
 * Every table holding an end user's data, in the order an erasure removes it; each entry reports
 * its count in the receipt. A new table that holds user data gets one entry here (and a check in
 * erasure.test.ts finds any row still naming the user after an erasure):
 * - rows that point at a memory or chunk (links, say memory_entities, chunk_entities) before
 *   `memories` and `knowledge_chunks`, so they are counted rather than cascaded unseen;
 * - rows with their own user_id (say entity_relations, then entities) anywhere after
 *   `idempotency_keys`, children before parents.
 * Knowledge follows the lock order of every ingestion path: job rows, then the document.
 */
export const ERASURE_STEPS: readonly ErasureStep[] = [
  idempotencyKeys,
  deleteWhere("memory_events", USER_EVENTS),
  // Append-only for the application: one definer function deletes one user's history rows.
  rows("memory_history", "SELECT engram_erase_user_history($1, $2) AS n", (t) => [
    t.projectId,
    t.userId,
  ]),
  // Relations and links first, counted here rather than cascaded unseen with their memories and
  // chunks.
  deleteWhere("entity_relations", "tenant_id = $1 AND project_id = $2 AND user_id = $3"),
  deleteWhere(
    "memory_entities",
    "tenant_id = $1 AND memory_id IN (SELECT id FROM memories WHERE tenant_id = $1 AND project_id = $2 AND user_id = $3)",
  ),
  deleteWhere(
    "chunk_entities",
    `tenant_id = $1 AND chunk_id IN (SELECT id FROM knowledge_chunks WHERE tenant_id = $1 AND document_id IN (${USER_DOCUMENTS}))`,
  ),
  memories,
  // The user's conversations with agents: their messages counted, then the conversations.
  deleteWhere(
    "chat_messages",
    "tenant_id = $1 AND conversation_id IN (SELECT id FROM conversations WHERE tenant_id = $1 AND project_id = $2 AND user_id = $3)",
  ),
  deleteWhere("conversations", "tenant_id = $1 AND project_id = $2 AND user_id = $3"),
  // Webhook payloads of the user's memory events (sent or not): they hold the user's text.
  deleteWhere("webhook_deliveries", "tenant_id = $1 AND project_id = $2 AND user_id = $3"),
  deleteWhere(
    "ingest_jobs",
    `tenant_id = $1 AND project_id = $2 AND document_id IN (${USER_DOCUMENTS})`,
  ),
  deleteWhere(
    "knowledge_chunks",
    `tenant_id = $1 AND project_id = $2 AND document_id IN (${USER_DOCUMENTS})`,
  ),
  deleteWhere("document_contents", `tenant_id = $1 AND document_id IN (${USER_DOCUMENTS})`),
  documents,
  // The user's entities (entities/): under the project's entity lock, taken after the memory and
  // document rows as every entity write takes it; names before the entities.
  userEntities,
  // Kept (who did what, when) but no longer naming the user: a definer function sets the rows'
  // user_id to null and adds the erasure's id; counted as rows redacted.
  rows("audit_events", "SELECT engram_redact_user_audit($1, $2, $3) AS n", (t) => [
    t.projectId,
    t.userId,
    t.erasureId,
  ]),
];

/** A user id's HMAC-SHA256 under the tenant's salt: what a receipt keeps of it. */
export function userHash(salt: Uint8Array, userId: string): Buffer {
  return createHmac("sha256", salt).update(userId, "utf8").digest();
}
