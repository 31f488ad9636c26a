import type { KnowledgeDocument, Metadata } from "@engram/contract";
import type { Database, Queryable } from "../db/database.ts";
import {
  findIdempotentResponse,
  IdempotencyRace,
  type IdempotencyRequest,
  saveIdempotentResponse,
} from "../db/idempotency.ts";
import { dropUnlinkedEntities } from "../entities/entity-links.ts";
import { type Scope, scopeSql } from "../search/scope-sql.ts";
import type { UsageHook } from "../usage/metering.ts";

export interface NewDocument {
  id: string;
  jobId: string;
  projectId: string;
  userId: string | null;
  agentId: string | null;
  sessionId: string | null;
  collection: string | null;
  filename: string;
  mediaType: string;
  metadata: Metadata;
  content: Buffer;
  sha256: Buffer;
}

/** What document listings narrow to; each id matches exactly (ADR 0019: listings stay exact). */
export type DocumentScope = Pick<Scope, "userId" | "agentId" | "sessionId" | "collection">;

const DOC_COLUMNS = `d.id, d.project_id, d.filename, d.media_type, d.status, d.error, d.size_bytes, d.page_count,
  d.chunk_count, d.user_id, d.agent_id, d.session_id, d.collection, d.metadata, d.created_at, d.updated_at,
  (SELECT j.id FROM ingest_jobs j WHERE j.document_id = d.id ORDER BY j.id DESC LIMIT 1) AS job_id`;

function toDocument(r: Record<string, unknown>): KnowledgeDocument {
  return {
    id: r.id as string,
    project_id: r.project_id as string,
    filename: r.filename as string,
    media_type: r.media_type as string,
    status: r.status as KnowledgeDocument["status"],
    error: (r.error as string | null) ?? null,
    size_bytes: Number(r.size_bytes),
    page_count: r.page_count === null ? null : Number(r.page_count),
    chunk_count: Number(r.chunk_count),
    user_id: r.user_id as string | null,
    agent_id: r.agent_id as string | null,
    session_id: r.session_id as string | null,
    collection: r.collection as string | null,
    metadata: r.metadata as Metadata,
    job_id: (r.job_id as string | null) ?? null,
    created_at: (r.created_at as Date).toISOString(),
    updated_at: (r.updated_at as Date).toISOString(),
  };
}

/**
 * Documents and their bytes; every method runs under the tenant's RLS and takes the caller's
 * project: another project's document is not found. Jobs are ingest-job-store's.
 */
export function createDocumentStore(db: Database) {
  return {
    /** The stored response of an earlier upload with this Idempotency-Key, if any. */
    findIdempotent: (tenantId: string, idem: IdempotencyRequest) =>
      db.withTenant(tenantId, (tx) => findIdempotentResponse(tx, tenantId, idem)),

    /**
     * Stores a document, its bytes and its job, and enqueues the job in the same transaction
     * (`enqueue` gets the tenant's queued-document count, for fair priorities): a crash loses
     * neither half.
     */
    insertDocument(
      tenantId: string,
      doc: NewDocument,
      enqueue: (tx: Queryable, backlog: number) => Promise<string>,
      usage?: UsageHook,
      idem?: { request: IdempotencyRequest; response: object },
    ): Promise<void> {
      return db.withTenant(tenantId, async (tx) => {
        const [backlog] = await tx.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM documents WHERE tenant_id = $1 AND status = 'queued'",
          [tenantId],
        );
        await tx.query(
          `INSERT INTO documents (id, tenant_id, user_id, agent_id, collection, filename, media_type,
             metadata, size_bytes, content_sha256, status, project_id, session_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', $11, $12)`,
          [
            doc.id,
            tenantId,
            doc.userId,
            doc.agentId,
            doc.collection,
            doc.filename,
            doc.mediaType,
            JSON.stringify(doc.metadata),
            doc.content.length,
            doc.sha256,
            doc.projectId,
            doc.sessionId,
          ],
        );
        await tx.query(
          "INSERT INTO document_contents (document_id, tenant_id, content) VALUES ($1, $2, $3)",
          [doc.id, tenantId, doc.content],
        );
        await tx.query(
          `INSERT INTO ingest_jobs (id, tenant_id, project_id, document_id, state)
           VALUES ($1, $2, $3, $4, 'queued')`,
          [doc.jobId, tenantId, doc.projectId, doc.id],
        );
        // The uploaded bytes count as the tenant's storage (a quota refusal rolls all this back).
        await usage?.(tx, { ops: 0, memories: 0, bytes: doc.content.length });
        const queueJobId = await enqueue(tx, backlog?.n ?? 0);
        if (
          idem &&
          !(await saveIdempotentResponse(tx, tenantId, idem.request, 202, idem.response))
        ) {
          throw new IdempotencyRace(); // rolls back the document, its job and its queue entry
        }
        await tx.query("UPDATE ingest_jobs SET queue_job_id = $2 WHERE id = $1", [
          doc.jobId,
          queueJobId,
        ]);
      });
    },

    async getDocument(
      tenantId: string,
      projectId: string,
      id: string,
    ): Promise<KnowledgeDocument | undefined> {
      const [row] = await db.withTenant(tenantId, (tx) =>
        tx.query(
          `SELECT ${DOC_COLUMNS} FROM documents d
           WHERE d.tenant_id = $1 AND d.project_id = $2 AND d.id = $3`,
          [tenantId, projectId, id],
        ),
      );
      return row && toDocument(row);
    },

    async listDocuments(
      tenantId: string,
      projectId: string,
      scope: DocumentScope & { status?: string | undefined },
      limit: number,
      before: string | undefined,
    ) {
      const params: unknown[] = [tenantId, projectId];
      let where = `d.tenant_id = $1 AND d.project_id = $2${scopeSql(scope, params, { alias: "d." })}`;
      if (scope.status) where += ` AND d.status = $${params.push(scope.status)}`;
      if (before) where += ` AND d.id < $${params.push(before)}`;
      const rows = await db.withTenant(tenantId, (tx) =>
        tx.query(
          `SELECT ${DOC_COLUMNS} FROM documents d WHERE ${where} ORDER BY d.id DESC LIMIT $${params.push(limit + 1)}`,
          params,
        ),
      );
      return { rows: rows.slice(0, limit).map(toDocument), more: rows.length > limit };
    },

    /**
     * Deletes a document, its bytes and chunks (cascade), and cancels its unfinished job; returns
     * the queue's id of that job (to cancel it there too), or undefined when there is no document.
     */
    deleteDocument(tenantId: string, projectId: string, id: string, usage?: UsageHook) {
      return db.withTenant(tenantId, async (tx) => {
        // Job rows first, then the document (the lock order of every job path), and the
        // tenant's usage row last, so it is held only for the commit.
        const jobs = await tx.query<{ queue_job_id: string | null }>(
          `UPDATE ingest_jobs SET state = 'cancelled', stage = NULL, finished_at = now(),
             error = 'The document was deleted'
           WHERE tenant_id = $1 AND project_id = $2 AND document_id = $3
             AND state IN ('queued', 'active', 'dead')
           RETURNING queue_job_id`,
          [tenantId, projectId, id],
        );
        // The entities its chunks named, read before the chunks (and links) cascade away, with
        // the document locked so no job writes chunks in between.
        await tx.query(
          "SELECT 1 FROM documents WHERE tenant_id = $1 AND project_id = $2 AND id = $3 FOR UPDATE",
          [tenantId, projectId, id],
        );
        const named = await tx.query<{ entity_id: string }>(
          `SELECT DISTINCT l.entity_id FROM knowledge_chunks c
           JOIN chunk_entities l ON l.chunk_id = c.id AND l.tenant_id = $1
           WHERE c.tenant_id = $1 AND c.project_id = $2 AND c.document_id = $3`,
          [tenantId, projectId, id],
        );
        const [doc] = await tx.query<{ id: string; size_bytes: string; indexed_bytes: string }>(
          `DELETE FROM documents WHERE tenant_id = $1 AND project_id = $2 AND id = $3
           RETURNING id, size_bytes, indexed_bytes`,
          [tenantId, projectId, id],
        );
        // No such document: nothing was cancelled either (jobs only exist for documents).
        if (!doc) return undefined;
        await dropUnlinkedEntities(
          tx,
          tenantId,
          projectId,
          named.map((n) => n.entity_id),
        );
        const bytes = Number(doc.size_bytes) + Number(doc.indexed_bytes);
        await usage?.(tx, { ops: 0, memories: 0, bytes: -bytes });
        return { queueJobIds: jobs.flatMap((j) => (j.queue_job_id ? [j.queue_job_id] : [])) };
      });
    },
  };
}
export type DocumentStore = ReturnType<typeof createDocumentStore>;
