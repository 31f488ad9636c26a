import type { IngestJob, PlanOverrides } from "@engram/contract";
import type { Database, Queryable } from "../db/database.ts";
import { dropUnlinkedEntities, linkChunks } from "../entities/entity-links.ts";
import type { Extraction } from "../inference/engine.ts";
import type { UsageHook } from "../usage/metering.ts";
import type { EmitWebhooks } from "../webhooks/webhook-outbox.ts";
import type { Chunk } from "./chunker.ts";

/** Storage a document's chunks take: their text and their vectors (4 bytes a dimension). */
const CHUNK_BYTES_SQL = "coalesce(sum(octet_length(text) + 4 * vector_dims(embedding)), 0)::bigint";
const JOB_COLUMNS =
  "id, document_id, state, stage, progress, attempts, error, created_at, started_at, finished_at";

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function toJob(r: Record<string, unknown>, maxAttempts: number): IngestJob {
  return {
    id: r.id as string,
    document_id: r.document_id as string,
    state: r.state as IngestJob["state"],
    stage: (r.stage as string | null) ?? null,
    progress: Number(r.progress),
    attempts: Number(r.attempts),
    max_attempts: maxAttempts,
    error: (r.error as string | null) ?? null,
    created_at: (r.created_at as Date).toISOString(),
    started_at: iso(r.started_at as Date | null),
    finished_at: iso(r.finished_at as Date | null),
  };
}

/** What a job records of an attempt that never finished. */
const stoppedEarly = (attempt: number) =>
  `Attempt ${attempt} stopped without finishing (its worker crashed or lost the job's lease)`;

/** The reason of a job given up once its attempts are spent, with the last one's error. */
export const gaveUp = (attempts: number, last: string | null) =>
  `Gave up after ${attempts} attempts${last ? `; last: ${last}` : ""}`;

/**
 * Ends a queued or active job without indexing anything: 'failed' for a permanent reason (the
 * bytes are dropped, a retry could not help) or 'dead' once retries are spent (bytes kept for a
 * retry). Any chunks a crashed attempt may have left are removed.
 */
async function endJob(
  tx: Queryable,
  tenantId: string,
  jobId: string,
  state: "failed" | "dead",
  reason: string,
  emit: EmitWebhooks | undefined,
): Promise<void> {
  const [job] = await tx.query<{ document_id: string; project_id: string; attempts: number }>(
    `UPDATE ingest_jobs SET state = $3, stage = NULL, error = $4, finished_at = now()
     WHERE tenant_id = $1 AND id = $2 AND state IN ('queued', 'active')
     RETURNING document_id, project_id, attempts`,
    [tenantId, jobId, state, reason],
  );
  if (!job) return;
  // document.failed either way; job.dead too once the retries are spent (retryable by API).
  await emit?.(tx, tenantId, job.project_id, [
    {
      type: "document.failed",
      key: job.document_id,
      data: { id: job.document_id, job_id: jobId, error: reason },
    },
    ...(state === "dead"
      ? [
          {
            type: "job.dead" as const,
            key: job.document_id,
            data: {
              id: jobId,
              document_id: job.document_id,
              attempts: Number(job.attempts),
              error: reason,
            },
          },
        ]
      : []),
  ]);
  await tx.query(
    `UPDATE documents SET status = 'failed', error = $3, chunk_count = 0, updated_at = now()
     WHERE tenant_id = $1 AND id = $2`,
    [tenantId, job.document_id, reason],
  );
  await tx.query("DELETE FROM knowledge_chunks WHERE tenant_id = $1 AND document_id = $2", [
    tenantId,
    job.document_id,
  ]);
  if (state === "failed") {
    await tx.query("DELETE FROM document_contents WHERE document_id = $1", [job.document_id]);
  }
}

/**
 * Ingestion jobs and the chunks they write; every method runs under the tenant's RLS. The
 * request-side methods also take the caller's project: another project's job is not found. The
 * worker's methods go by job id (from the queue) and keep the document's project. Uploads and
 * document reads are document-store's.
 */
export function createIngestJobStore(
  db: Database,
  model: { id: string },
  maxAttempts: number,
  /** Records and enqueues document.ready, document.failed and job.dead in their transactions. */
  emit?: EmitWebhooks,
) {
  return {
    /** A job of the caller's project; projectId null is the worker's lookup by the queue's job id. */
    async getJob(
      tenantId: string,
      projectId: string | null,
      id: string,
    ): Promise<IngestJob | undefined> {
      const [row] = await db.withTenant(tenantId, (tx) =>
        tx.query(
          `SELECT ${JOB_COLUMNS} FROM ingest_jobs
           WHERE tenant_id = $1 AND ($2::text IS NULL OR project_id = $2) AND id = $3`,
          [tenantId, projectId, id],
        ),
      );
      return row && toJob(row, maxAttempts);
    },

    async listJobs(
      tenantId: string,
      projectId: string,
      state: string | undefined,
      limit: number,
      before?: string,
    ) {
      const params: unknown[] = [tenantId, projectId];
      let where = "tenant_id = $1 AND project_id = $2";
      if (state) where += ` AND state = $${params.push(state)}`;
      if (before) where += ` AND id < $${params.push(before)}`;
      const rows = await db.withTenant(tenantId, (tx) =>
        tx.query(
          `SELECT ${JOB_COLUMNS} FROM ingest_jobs WHERE ${where} ORDER BY id DESC LIMIT $${params.push(limit + 1)}`,
          params,
        ),
      );
      return {
        rows: rows.slice(0, limit).map((r) => toJob(r, maxAttempts)),
        more: rows.length > limit,
      };
    },

    /** Re-queues a dead-lettered job: same job id, attempts kept; false when it is not dead. */
    retryJob(
      tenantId: string,
      projectId: string,
      id: string,
      enqueue: (tx: Queryable, documentId: string) => Promise<string>,
    ) {
      return db.withTenant(tenantId, async (tx) => {
        const [job] = await tx.query<{ document_id: string }>(
          `UPDATE ingest_jobs SET state = 'queued', stage = NULL, progress = 0, finished_at = NULL
           WHERE tenant_id = $1 AND project_id = $2 AND id = $3 AND state = 'dead'
           RETURNING document_id`,
          [tenantId, projectId, id],
        );
        if (!job) return false;
        await tx.query(
          "UPDATE documents SET status = 'queued', error = NULL, updated_at = now() WHERE tenant_id = $1 AND id = $2",
          [tenantId, job.document_id],
        );
        const queueJobId = await enqueue(tx, job.document_id);
        await tx.query("UPDATE ingest_jobs SET queue_job_id = $2 WHERE id = $1", [id, queueJobId]);
        return true;
      });
    },

    // --- the worker's side ----------------------------------------------------------------

    /**
     * Starts a delivery: the job becomes active and its attempt is counted before any work (so a
     * worker that dies mid-job has spent that attempt), its document becomes processing, and the
     * bytes are returned with what the worker needs to account for the result: the tenant's plan
     * and whether an earlier delivery was still marked active (it stopped without finishing).
     * Undefined when there is nothing to do: the document was deleted, or the job already
     * finished (a redelivery after completion) or was cancelled.
     */
    startJob(tenantId: string, jobId: string) {
      return db.withTenant(tenantId, async (tx) => {
        // Locked first (the lock order of every job path), so its state before this start is known.
        const [before] = await tx.query<{ state: string; attempts: number }>(
          "SELECT state, attempts FROM ingest_jobs WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
          [tenantId, jobId],
        );
        if (before?.state !== "queued" && before?.state !== "active") return undefined;
        if (before.state === "active" && before.attempts >= maxAttempts) {
          // Every attempt so far died without finishing (a crash loop): give up instead of
          // handing the document to yet another worker.
          const reason = gaveUp(before.attempts, stoppedEarly(before.attempts));
          await endJob(tx, tenantId, jobId, "dead", reason, emit);
          return { exhausted: reason } as const;
        }
        const [job] = await tx.query<{ document_id: string; created_at: Date; attempts: number }>(
          `UPDATE ingest_jobs SET state = 'active', stage = 'parse', attempts = attempts + 1,
             started_at = coalesce(started_at, now()),
             error = $3
           WHERE tenant_id = $1 AND id = $2
           RETURNING document_id, created_at, attempts`,
          [tenantId, jobId, before.state === "active" ? stoppedEarly(before.attempts) : null],
        );
        if (!job) return undefined;
        const [doc] = await tx.query<{
          project_id: string;
          media_type: string;
          content: Uint8Array;
        }>(
          `UPDATE documents d SET status = 'processing', updated_at = now()
           FROM document_contents c
           WHERE d.tenant_id = $1 AND d.id = $2 AND c.document_id = d.id
           RETURNING d.project_id, d.media_type, c.content`,
          [tenantId, job.document_id],
        );
        if (!doc) return undefined;
        const [tenant] = await tx.query<{ plan: string; overrides: PlanOverrides }>(
          "SELECT plan, overrides FROM tenants WHERE id = $1",
          [tenantId],
        );
        return {
          documentId: job.document_id,
          projectId: doc.project_id,
          mediaType: doc.media_type,
          content: Buffer.from(doc.content),
          enqueuedAt: job.created_at,
          attempts: Number(job.attempts),
          interrupted: before.state === "active",
          plan: tenant?.plan ?? "",
          overrides: tenant?.overrides ?? {},
        };
      });
    },

    /** Records a stage and progress of an active job (short transaction, between stages). */
    async progress(tenantId: string, jobId: string, stage: string, progress: number) {
      await db.withTenant(tenantId, (tx) =>
        tx.query(
          "UPDATE ingest_jobs SET stage = $3, progress = $4 WHERE tenant_id = $1 AND id = $2 AND state = 'active'",
          [tenantId, jobId, stage, progress],
        ),
      );
    },

    /**
     * Writes a document's chunks and marks it ready, in one transaction: the document row is
     * locked first, so a concurrent delete either happens before (nothing is written: false) or
     * after (it removes these chunks too). Existing chunks are replaced, so a redelivered job
     * never leaves two copies.
     */
    completeJob(
      tenantId: string,
      jobId: string,
      documentId: string,
      result: {
        chunks: Chunk[];
        vectors: string[];
        pages: number | null;
        ids: string[];
        /** What each chunk mentions (linked with it); absent: nothing is linked. */
        entities?: Extraction[];
      },
      usage?: UsageHook,
    ) {
      return db.withTenant(tenantId, async (tx) => {
        // Lock order everywhere: the job row, then the document row (no deadlock with a delete,
        // a start or a retry of the same document).
        const [job] = await tx.query(
          "SELECT 1 FROM ingest_jobs WHERE tenant_id = $1 AND id = $2 AND state = 'active' FOR UPDATE",
          [tenantId, jobId],
        );
        if (!job) return false;
        const [doc] = await tx.query<{
          project_id: string;
          user_id: string | null;
          agent_id: string | null;
          session_id: string | null;
          collection: string | null;
          indexed_bytes: string;
        }>(
          "SELECT project_id, user_id, agent_id, session_id, collection, indexed_bytes FROM documents WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
          [tenantId, documentId],
        );
        if (!doc) return false;
        // A redelivered job replaces the chunks: the entities only the old ones named go too.
        const replaced = await tx.query<{ entity_id: string }>(
          `WITH gone AS (
             DELETE FROM knowledge_chunks WHERE tenant_id = $1 AND document_id = $2 RETURNING id
           )
           SELECT DISTINCT l.entity_id FROM chunk_entities l JOIN gone ON l.chunk_id = gone.id
           WHERE l.tenant_id = $1`,
          [tenantId, documentId],
        );
        const { chunks } = result;
        if (chunks.length > 0) {
          await tx.query(
            `INSERT INTO knowledge_chunks (id, tenant_id, document_id, ordinal, text, heading_path, headings, page,
               start_offset, end_offset, token_count, user_id, agent_id, collection, embedding, embedding_model, project_id,
               session_id)
             SELECT c.id, $1, $2, c.ordinal, c.text, ARRAY(SELECT jsonb_array_elements_text(c.path)),
                    coalesce((SELECT string_agg(h, ' ') FROM jsonb_array_elements_text(c.path) AS h), ''), c.page, c.start_offset, c.end_offset, c.tokens, $3, $4, $5, c.embedding::vector, $6, $16,
                    $17
             FROM unnest($7::text[], $8::int[], $9::text[], $10::jsonb[], $11::int[], $12::int[],
                         $13::int[], $14::int[], $15::text[])
               AS c(id, ordinal, text, path, page, start_offset, end_offset, tokens, embedding)`,
            [
              tenantId,
              documentId,
              doc.user_id,
              doc.agent_id,
              doc.collection,
              model.id,
              result.ids,
              chunks.map((c) => c.ordinal),
              chunks.map((c) => c.text),
              chunks.map((c) => JSON.stringify(c.headingPath)),
              chunks.map((c) => c.page),
              chunks.map((c) => c.start),
              chunks.map((c) => c.end),
              chunks.map((c) => c.tokens),
              result.vectors,
              doc.project_id,
              doc.session_id,
            ],
          );
        }
        const links = result.ids.map((id, i) => ({
          id,
          owner: doc.user_id,
          extraction: result.entities?.[i] ?? { entities: [], relations: [] },
        }));
        await linkChunks(tx, tenantId, doc.project_id, links);
        await dropUnlinkedEntities(
          tx,
          tenantId,
          doc.project_id,
          replaced.map((r) => r.entity_id),
        );
        // Chunk text and vectors are storage like the upload: counted (and checked against the
        // quota, which rolls all of this back) last, so the usage row is held only for the commit.
        const [stored] = await tx.query<{ bytes: string }>(
          `SELECT ${CHUNK_BYTES_SQL} AS bytes FROM knowledge_chunks WHERE tenant_id = $1 AND document_id = $2`,
          [tenantId, documentId],
        );
        const bytes = Number(stored?.bytes ?? 0);
        await tx.query(
          `UPDATE documents SET status = 'ready', chunk_count = $3, page_count = $4, error = NULL,
             indexed_bytes = $5, updated_at = now() WHERE tenant_id = $1 AND id = $2`,
          [tenantId, documentId, chunks.length, result.pages, bytes],
        );
        await tx.query("DELETE FROM document_contents WHERE document_id = $1", [documentId]);
        await tx.query(
          `UPDATE ingest_jobs SET state = 'completed', stage = NULL, progress = 1, finished_at = now()
           WHERE tenant_id = $1 AND id = $2`,
          [tenantId, jobId],
        );
        await usage?.(tx, { ops: 0, memories: 0, bytes: bytes - Number(doc.indexed_bytes) });
        await emit?.(tx, tenantId, doc.project_id, [
          {
            type: "document.ready",
            key: documentId,
            data: {
              id: documentId,
              job_id: jobId,
              chunk_count: chunks.length,
              page_count: result.pages,
            },
          },
        ]);
        return true;
      });
    },

    /** Ends a job without indexing anything (endJob), in its own transaction. */
    async failJob(tenantId: string, jobId: string, state: "failed" | "dead", reason: string) {
      await db.withTenant(tenantId, (tx) => endJob(tx, tenantId, jobId, state, reason, emit));
    },

    /** Notes a failed attempt that will be retried. */
    async attemptFailed(tenantId: string, jobId: string, reason: string) {
      await db.withTenant(tenantId, (tx) =>
        tx.query(
          "UPDATE ingest_jobs SET error = $3, stage = NULL WHERE tenant_id = $1 AND id = $2 AND state = 'active'",
          [tenantId, jobId, reason],
        ),
      );
    },
  };
}
export type IngestJobStore = ReturnType<typeof createIngestJobStore>;
