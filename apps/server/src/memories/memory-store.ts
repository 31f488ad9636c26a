import type {
  AddMemoryResult,
  HistoryEntry,
  HistorySource,
  MemoryEvent,
  MessageSource,
  Metadata,
} from "@engram/contract";
import type { Database, Queryable } from "../db/database.ts";
import {
  findIdempotentResponse,
  IdempotencyRace,
  type IdempotencyRequest,
  saveIdempotentResponse,
} from "../db/idempotency.ts";
import {
  dropUnlinkedEntities,
  type EntityLinks,
  linkMemories,
  relinkMemory,
} from "../entities/entity-links.ts";
import type { Extraction } from "../inference/engine.ts";
import { AppError } from "../lib/errors.ts";
import { newId } from "../lib/ids.ts";
import { type Scope, scopeSql } from "../search/scope-sql.ts";
import { MEMORY_BYTES_SQL, type UsageHook } from "../usage/metering.ts";
import type { EmitWebhooks } from "../webhooks/webhook-outbox.ts";
import { MEMORY_COLUMNS, type MemoryRow, toMemory } from "./memory-row.ts";
import {
  dropUnusedTermStats,
  indexTerms,
  unindexDeletedTermsSql,
  unindexTerms,
} from "./memory-terms-sql.ts";
import { type Validity, validitySql } from "./memory-validity.ts";
import { memoryWebhookEvents } from "./memory-webhook-events.ts";

/** One memory to insert, already embedded. */
export interface NewMemory {
  id: string;
  memory: string;
  role: string | null;
  userId: string | null;
  agentId: string | null;
  sessionId: string | null;
  metadata: Metadata;
  contentHash: string;
  occurredAt: string | null;
  /** When it became true; the insert's time when absent. */
  validFrom?: string | null;
  sources?: MessageSource[];
  categories?: string[];
  /** The single-valued attribute it states, if any (inference). */
  attribute?: { subject: string; key: string } | null;
  /** What it mentions (extracted before the transaction); linked in the transaction. */
  entities?: Extraction | undefined;
  embedding: string;
}

/** The entity links of the rows that were inserted (ids in `added`) and mention something. */
export function entityLinksOf(
  rows: readonly NewMemory[],
  added: ReadonlySet<string>,
): EntityLinks[] {
  return rows.flatMap((r) =>
    added.has(r.id) && r.entities ? [{ id: r.id, owner: r.userId, extraction: r.entities }] : [],
  );
}

/** The ids memories are narrowed to, each matched exactly; the service always sets the project. */
export type MemoryScope = Pick<Scope, "projectId" | "userId" | "agentId" | "sessionId">;

/** One history row; the inference fields are absent for verbatim writes. */
export interface HistoryRow {
  memoryId: string;
  event: MemoryEvent;
  oldMemory: string | null;
  newMemory: string | null;
  oldMetadata: Metadata | null;
  newMetadata: Metadata | null;
  reason?: string | undefined;
  relatedMemoryId?: string | undefined;
  sources?: HistorySource[] | undefined;
  engine?: "local" | "llm" | undefined;
  /** The memory's user; read from the memory when absent (a deleted memory must give it). */
  userId?: string | null | undefined;
  /** Not stored: the memory that superseded this one (its webhook event is memory.superseded). */
  supersededBy?: string | undefined;
}

/**
 * Appends history rows (the table is append-only for the application role). Each row names its
 * memory's user, so erasing that user finds the history of memories deleted earlier too. With
 * `emit`, the rows' webhook events are recorded and enqueued in the same transaction.
 */
export async function insertHistory(
  tx: Queryable,
  tenantId: string,
  projectId: string,
  entries: HistoryRow[],
  emit?: EmitWebhooks,
): Promise<void> {
  if (entries.length === 0) return;
  const ids = entries.map(() => newId("hist"));
  const written = await tx.query<{ id: string; user_id: string | null }>(
    `INSERT INTO memory_history (id, tenant_id, project_id, memory_id, event, old_memory, new_memory,
                                 old_metadata, new_metadata, reason, related_memory_id, sources, engine,
                                 user_id)
     SELECT d.id, $2, $9, d.memory_id, d.event, d.old_memory, d.new_memory, d.old_metadata,
            d.new_metadata, d.reason, d.related, d.sources, d.engine,
            coalesce(d.user_id, (SELECT m.user_id FROM memories m WHERE m.tenant_id = $2 AND m.id = d.memory_id))
     FROM unnest($1::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[],
                 $10::text[], $11::text[], $12::jsonb[], $13::text[], $14::text[])
       AS d(id, memory_id, event, old_memory, new_memory, old_metadata, new_metadata, reason,
            related, sources, engine, user_id)
     RETURNING id, user_id`,
    [
      ids,
      tenantId,
      entries.map((e) => e.memoryId),
      entries.map((e) => e.event),
      entries.map((e) => e.oldMemory),
      entries.map((e) => e.newMemory),
      entries.map((e) => (e.oldMetadata ? JSON.stringify(e.oldMetadata) : null)),
      entries.map((e) => (e.newMetadata ? JSON.stringify(e.newMetadata) : null)),
      projectId,
      entries.map((e) => e.reason ?? null),
      entries.map((e) => e.relatedMemoryId ?? null),
      entries.map((e) => (e.sources ? JSON.stringify(e.sources) : null)),
      entries.map((e) => e.engine ?? null),
      entries.map((e) => e.userId ?? null),
    ],
  );
  if (emit) {
    const users = new Map(written.map((w) => [w.id, w.user_id]));
    await emit(
      tx,
      tenantId,
      projectId,
      memoryWebhookEvents(
        entries,
        ids.map((id) => users.get(id) ?? null),
      ),
    );
  }
}

/**
 * Inserts memories in one statement and indexes their terms; a row duplicating a current memory
 * of its scope (same normalised text) is skipped. Returns the inserted ids with their sizes.
 */
export async function insertMemoryRows(
  tx: Queryable,
  tenantId: string,
  projectId: string,
  rows: NewMemory[],
  model: { id: string; dimension: number },
): Promise<{ id: string; bytes: string }[]> {
  const inserted = await tx.query<{ id: string; bytes: string }>(
    `INSERT INTO memories (id, tenant_id, project_id, memory, role, user_id, agent_id, session_id, metadata,
                           content_hash, occurred_at, embedding, embedding_model, embedding_dim,
                           valid_from, sources, categories, attribute_subject, attribute_key)
     SELECT d.id, $2, $14, d.memory, d.role, d.user_id, d.agent_id, d.session_id, d.metadata,
            decode(d.hash, 'hex'), d.occurred_at, d.embedding::vector, $12, $13,
            coalesce(d.valid_from, now()), d.sources, ARRAY(SELECT jsonb_array_elements_text(d.categories)),
            d.attribute_subject, d.attribute_key
     FROM unnest($1::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                 $8::jsonb[], $9::text[], $10::timestamptz[], $11::text[], $15::timestamptz[],
                 $16::jsonb[], $17::jsonb[], $18::text[], $19::text[])
       AS d(id, memory, role, user_id, agent_id, session_id, metadata, hash, occurred_at,
            embedding, valid_from, sources, categories, attribute_subject, attribute_key)
     ON CONFLICT (tenant_id, project_id, user_id, agent_id, session_id, content_hash)
       WHERE valid_to IS NULL DO NOTHING
     RETURNING id, ${MEMORY_BYTES_SQL} AS bytes`,
    [
      rows.map((r) => r.id),
      tenantId,
      rows.map((r) => r.memory),
      rows.map((r) => r.role),
      rows.map((r) => r.userId),
      rows.map((r) => r.agentId),
      rows.map((r) => r.sessionId),
      rows.map((r) => JSON.stringify(r.metadata)),
      rows.map((r) => r.contentHash),
      rows.map((r) => r.occurredAt),
      rows.map((r) => r.embedding),
      model.id,
      model.dimension,
      projectId,
      rows.map((r) => r.validFrom ?? r.occurredAt ?? null),
      rows.map((r) => JSON.stringify(r.sources ?? [])),
      rows.map((r) => JSON.stringify(r.categories ?? [])),
      rows.map((r) => r.attribute?.subject ?? null),
      rows.map((r) => r.attribute?.key ?? null),
    ],
  );
  await indexTerms(
    tx,
    tenantId,
    projectId,
    inserted.map((r) => r.id),
  );
  return inserted;
}

/** A memory's exact-duplicate key, as currentDuplicates computes it in SQL (chr(30): no id). */
export const dedupKey = (r: Pick<NewMemory, "userId" | "agentId" | "sessionId" | "contentHash">) =>
  [r.userId ?? "\x1e", r.agentId ?? "\x1e", r.sessionId ?? "\x1e", r.contentHash].join("\x1f");

/** The current memories these rows duplicate (same scope and normalised text), by dedupKey. */
export async function currentDuplicates(
  tx: Queryable,
  tenantId: string,
  projectId: string,
  rows: NewMemory[],
): Promise<Map<string, { id: string; memory: string }>> {
  const existing = new Map<string, { id: string; memory: string }>();
  if (rows.length === 0) return existing;
  const found = await tx.query<{ id: string; memory: string; k: string }>(
    `SELECT m.id, m.memory,
            concat_ws(chr(31), coalesce(m.user_id, chr(30)), coalesce(m.agent_id, chr(30)),
                      coalesce(m.session_id, chr(30)), encode(m.content_hash, 'hex')) AS k
     FROM memories m
     JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS d(u, a, s, h)
       ON m.user_id IS NOT DISTINCT FROM d.u AND m.agent_id IS NOT DISTINCT FROM d.a
      AND m.session_id IS NOT DISTINCT FROM d.s AND m.content_hash = decode(d.h, 'hex')
     WHERE m.tenant_id = $5 AND m.project_id = $6 AND m.valid_to IS NULL`,
    [
      rows.map((r) => r.userId),
      rows.map((r) => r.agentId),
      rows.map((r) => r.sessionId),
      rows.map((r) => r.contentHash),
      tenantId,
      projectId,
    ],
  );
  for (const f of found) existing.set(f.k, { id: f.id, memory: f.memory });
  return existing;
}

/**
 * A unique_violation (SQLSTATE 23505) of an update is memories_dedup, the table's only unique key
 * an update can break: the new text duplicates another memory of the scope. Other errors pass.
 */
function duplicateText(err: unknown): never {
  if ((err as { code?: unknown } | null)?.code === "23505") {
    throw new AppError("conflict", "Another memory in this scope already has this text", "text");
  }
  throw err;
}

/** SQL for memories. Every method runs in one transaction under the tenant's RLS context. */
export function createMemoryStore(
  db: Database,
  model: { id: string; dimension: number },
  /** Records and enqueues the changes' webhook deliveries in their transactions. */
  emit?: EmitWebhooks,
) {
  return {
    /** The stored response of an earlier request with this Idempotency-Key, if any. */
    findIdempotent: (tenantId: string, idem: IdempotencyRequest) =>
      db.withTenant(tenantId, (tx) => findIdempotentResponse(tx, tenantId, idem)),

    /**
     * Inserts memories in one statement; exact duplicates (same scope and normalized text, also
     * within the batch) come back as NOOP with the stored id. History and the idempotency record
     * commit in the same transaction, so a crash after the 201 loses nothing.
     */
    insertMemories: (
      tenantId: string,
      projectId: string,
      rows: NewMemory[],
      idem?: IdempotencyRequest,
      usage?: UsageHook,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        if (idem) {
          const earlier = await findIdempotentResponse(tx, tenantId, idem);
          if (earlier) return earlier as { results: AddMemoryResult[] };
        }
        const inserted = await insertMemoryRows(tx, tenantId, projectId, rows, model);
        const added = new Set(inserted.map((r) => r.id));
        const existing = await currentDuplicates(
          tx,
          tenantId,
          projectId,
          rows.filter((r) => !added.has(r.id)),
        );
        const results: AddMemoryResult[] = rows.map((r) => {
          const base = r.role ? { role: r.role } : {};
          if (added.has(r.id)) return { id: r.id, memory: r.memory, event: "ADD", ...base };
          const prior = existing.get(dedupKey(r));
          return {
            id: prior?.id ?? r.id,
            memory: prior?.memory ?? r.memory,
            event: "NOOP",
            ...base,
          };
        });
        await linkMemories(tx, tenantId, projectId, entityLinksOf(rows, added));
        await insertHistory(
          tx,
          tenantId,
          projectId,
          rows
            .filter((r) => added.has(r.id))
            .map((r) => ({
              memoryId: r.id,
              event: "ADD",
              oldMemory: null,
              newMemory: r.memory,
              oldMetadata: null,
              newMetadata: r.metadata,
            })),
          emit,
        );
        if (usage && inserted.length > 0) {
          await usage(tx, {
            ops: inserted.length,
            memories: inserted.length,
            bytes: inserted.reduce((sum, r) => sum + Number(r.bytes), 0),
          });
        }
        const response = { results };
        if (idem && !(await saveIdempotentResponse(tx, tenantId, idem, 201, response))) {
          throw new IdempotencyRace(); // rolls back this transaction's writes
        }
        return response;
      }),

    getMemory: (tenantId: string, projectId: string, id: string) =>
      db.readTenant(tenantId, async (tx) => {
        const [row] = await tx.query<MemoryRow>(
          `SELECT ${MEMORY_COLUMNS} FROM memories WHERE tenant_id = $1 AND project_id = $2 AND id = $3`,
          [tenantId, projectId, id],
        );
        return row ? toMemory(row) : undefined;
      }),

    /**
     * Lists newest first; ids are time-sortable, so the cursor is the last id seen. By default
     * only current memories (memory-validity.ts).
     */
    listMemories: (
      tenantId: string,
      scope: MemoryScope,
      limit: number,
      before: string | undefined,
      validity: Validity = {},
    ) =>
      db.readTenant(tenantId, async (tx) => {
        const params: unknown[] = [tenantId];
        let where = `tenant_id = $1${scopeSql(scope, params)}${validitySql(validity, params)}`;
        if (before) {
          params.push(before);
          where += ` AND id < $${params.length}`;
        }
        params.push(limit + 1);
        const rows = await tx.query<MemoryRow>(
          `SELECT ${MEMORY_COLUMNS} FROM memories WHERE ${where} ORDER BY id DESC LIMIT $${params.length}`,
          params,
        );
        return { rows: rows.slice(0, limit).map(toMemory), more: rows.length > limit };
      }),

    /**
     * Updates text (with its new embedding) and/or metadata, recording the change in history. A
     * text another memory of the same scope already has is a conflict.
     */
    updateMemory: (
      tenantId: string,
      projectId: string,
      id: string,
      patch: {
        memory?: string;
        contentHash?: string;
        embedding?: string;
        metadata?: Metadata;
        /** The new text's entities: they replace the old text's links and relations. */
        entities?: Extraction;
      },
      usage?: UsageHook,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        const [old] = await tx.query<{ memory: string; metadata: Metadata; bytes: string }>(
          `SELECT memory, metadata, ${MEMORY_BYTES_SQL} AS bytes FROM memories
           WHERE tenant_id = $1 AND project_id = $2 AND id = $3 FOR UPDATE`,
          [tenantId, projectId, id],
        );
        if (!old) return undefined;
        // A new text has new terms: its old postings go before the update, the new ones after.
        const retext = patch.memory !== undefined;
        if (retext) await unindexTerms(tx, tenantId, projectId, [id]);
        const [row] = await tx
          .query<MemoryRow>(
            `UPDATE memories SET
             memory = coalesce($3, memory),
             content_hash = coalesce(decode($4, 'hex'), content_hash),
             embedding = coalesce($5::vector, embedding),
             metadata = coalesce($6::jsonb, metadata),
             updated_at = now()
           WHERE tenant_id = $1 AND id = $2
           RETURNING ${MEMORY_COLUMNS}, ${MEMORY_BYTES_SQL} AS bytes`,
            [
              tenantId,
              id,
              patch.memory ?? null,
              patch.contentHash ?? null,
              patch.embedding ?? null,
              patch.metadata ? JSON.stringify(patch.metadata) : null,
            ],
          )
          .catch(duplicateText);
        const updated = row as MemoryRow & { bytes: string };
        if (retext) {
          await indexTerms(tx, tenantId, projectId, [id]);
          await dropUnusedTermStats(tx, tenantId, projectId);
        }
        if (patch.entities) {
          const owner = updated.user_id;
          await relinkMemory(tx, tenantId, projectId, { id, owner, extraction: patch.entities });
        }
        await usage?.(tx, {
          ops: 1,
          memories: 0,
          bytes: Number(updated.bytes) - Number(old.bytes),
        });
        await insertHistory(
          tx,
          tenantId,
          projectId,
          [
            {
              memoryId: id,
              event: "UPDATE",
              oldMemory: old.memory,
              newMemory: updated.memory,
              oldMetadata: old.metadata,
              newMetadata: updated.metadata,
            },
          ],
          emit,
        );
        return toMemory(updated);
      }),

    /** Deletes one memory (id given) or every memory in a scope, recording each deletion. */
    deleteMemories: (
      tenantId: string,
      projectId: string,
      target: { id: string } | { scope: MemoryScope },
      usage?: UsageHook,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        const params: unknown[] = [tenantId, projectId];
        let where = "tenant_id = $1 AND project_id = $2";
        if ("id" in target) {
          params.push(target.id);
          where += " AND id = $3";
        } else {
          where += scopeSql(target.scope, params);
        }
        // The deleted rows' postings and statistics go in the same statement, from their fts,
        // with the entities they mentioned (read before the links cascade away).
        const gone = await tx.query<{
          id: string;
          memory: string;
          metadata: Metadata;
          user_id: string | null;
          bytes: string;
          entity_ids: string[];
        }>(
          `WITH gone AS (
             DELETE FROM memories WHERE ${where}
             RETURNING id, memory, metadata, user_id, fts, ${MEMORY_BYTES_SQL} AS bytes
           ), ${unindexDeletedTermsSql("gone", "$2")}
           SELECT id, memory, metadata, user_id, bytes,
                  ARRAY(SELECT l.entity_id FROM memory_entities l
                        WHERE l.memory_id = gone.id AND l.tenant_id = $1) AS entity_ids
           FROM gone`,
          params,
        );
        if (gone.length > 0) await dropUnusedTermStats(tx, tenantId, projectId);
        await dropUnlinkedEntities(
          tx,
          tenantId,
          projectId,
          gone.flatMap((g) => g.entity_ids),
        );
        if (usage && gone.length > 0) {
          await usage(tx, {
            ops: 0,
            memories: -gone.length,
            bytes: -gone.reduce((sum, g) => sum + Number(g.bytes), 0),
          });
        }
        await insertHistory(
          tx,
          tenantId,
          projectId,
          gone.map((g) => ({
            memoryId: g.id,
            event: "DELETE",
            oldMemory: g.memory,
            newMemory: null,
            oldMetadata: g.metadata,
            newMetadata: null,
            userId: g.user_id,
          })),
          emit,
        );
        return gone.length;
      }),

    getHistory: (tenantId: string, projectId: string, memoryId: string) =>
      db.readTenant(tenantId, async (tx) => {
        const rows = await tx.query<Omit<HistoryEntry, "created_at"> & { created_at: Date }>(
          `SELECT id, memory_id, event, old_memory, new_memory, old_metadata, new_metadata,
                  reason, related_memory_id, sources, engine, created_at
           FROM memory_history WHERE tenant_id = $1 AND project_id = $2 AND memory_id = $3 ORDER BY id`,
          [tenantId, projectId, memoryId],
        );
        return rows.map((r) => ({ ...r, created_at: r.created_at.toISOString() }));
      }),
  };
}
export type MemoryStore = ReturnType<typeof createMemoryStore>;
