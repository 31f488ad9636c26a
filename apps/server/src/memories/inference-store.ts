import type { AddMemoryResponse, AddMemoryResult, HistorySource } from "@engram/contract";
import type { Database, Queryable } from "../db/database.ts";
import {
  findIdempotentResponse,
  IdempotencyRace,
  type IdempotencyRequest,
  saveIdempotentResponse,
} from "../db/idempotency.ts";
import { closeRelations, type EntityLinks, linkMemories } from "../entities/entity-links.ts";
import type { Extraction, Neighbour } from "../inference/engine.ts";
import { type Scope, scopeSql } from "../search/scope-sql.ts";
import { MEMORY_BYTES_SQL, type UsageDelta, type UsageHook } from "../usage/metering.ts";
import type { EmitWebhooks } from "../webhooks/webhook-outbox.ts";
import {
  currentDuplicates,
  dedupKey,
  entityLinksOf,
  type HistoryRow,
  insertHistory,
  insertMemoryRows,
  type NewMemory,
} from "./memory-store.ts";
import { dropUnusedTermStats, indexTerms, unindexTerms } from "./memory-terms-sql.ts";

/**
 * The memories a fact is reconciled with: those of the same user (or agent) across sessions, or
 * of the same session when the request names no user or agent; with no scope id at all, the
 * project's unscoped memories. Sessions are episodes of one life: a move said in one supersedes
 * the home said in another.
 */
export type ReconcileScope = Pick<Scope, "userId" | "agentId" | "sessionId"> & {
  projectId: string;
};

export function reconcileScopeOf(scope: ReconcileScope): ReconcileScope {
  const owned = scope.userId !== undefined || scope.agentId !== undefined;
  return {
    projectId: scope.projectId,
    userId: scope.userId,
    agentId: scope.agentId,
    sessionId: owned ? undefined : scope.sessionId,
  };
}

function reconcileScopeSql(scope: ReconcileScope, params: unknown[]): string {
  const sql = scopeSql(scope, params);
  if (scope.userId === undefined && scope.agentId === undefined && scope.sessionId === undefined) {
    return `${sql} AND user_id IS NULL AND agent_id IS NULL AND session_id IS NULL`;
  }
  return sql;
}

/** Concurrent inferences in one scope apply one at a time (a transaction-scoped advisory lock). */
export function scopeKey(tenantId: string, scope: ReconcileScope): string {
  return [tenantId, scope.projectId, scope.userId, scope.agentId, scope.sessionId]
    .map((v) => v ?? "\x1e")
    .join("\x1f");
}

/** What one decision writes; the store checks that every target is still current. */
export type InferenceWrite = {
  /** The messages the fact came from, with their text, for the history. */
  sources: HistorySource[];
  reason: string;
  /** The engine that decided (the local one when the LLM engine fell back). */
  engine: "local" | "llm";
} & (
  | { kind: "add"; row: NewMemory }
  | { kind: "supersede"; row: NewMemory; targetId: string }
  | {
      kind: "enrich";
      targetId: string;
      text: string;
      contentHash: string;
      embedding: string;
      sourceRefs: NewMemory["sources"];
      /** What the new text mentions: added to the target's links. */
      entities?: Extraction | undefined;
    }
  | { kind: "invalidate"; targetId: string; validTo: string }
  | { kind: "noop"; targetId: string }
);

/** A target memory stopped being current between the decision and the write: decide again. */
export class StaleTarget extends Error {
  constructor(readonly memoryId: string) {
    super(`memory ${memoryId} changed while its reconciliation was decided`);
    this.name = "StaleTarget";
  }
}

interface Target {
  id: string;
  user_id: string | null;
  memory: string;
  metadata: Record<string, unknown>;
  valid_from: Date;
  bytes: string;
}

/** SQL of inference: neighbour lookup, and the decisions' writes in one transaction. */
export function createInferenceStore(
  db: Database,
  model: { id: string; dimension: number },
  /** Records and enqueues the changes' webhook deliveries in their transactions. */
  emit?: EmitWebhooks,
) {
  const emb = `embedding::vector(${model.dimension})`;
  const modelPredicate = `embedding_model = '${model.id}'`;

  async function target(tx: Queryable, tenantId: string, projectId: string, id: string) {
    const [row] = await tx.query<Target>(
      `SELECT id, user_id, memory, metadata, valid_from, ${MEMORY_BYTES_SQL} AS bytes FROM memories
       WHERE tenant_id = $1 AND project_id = $2 AND id = $3 AND valid_to IS NULL FOR UPDATE`,
      [tenantId, projectId, id],
    );
    if (!row) throw new StaleTarget(id);
    return row;
  }

  return {
    findIdempotent: (tenantId: string, idem: IdempotencyRequest) =>
      db.withTenant(tenantId, (tx) => findIdempotentResponse(tx, tenantId, idem)),

    /**
     * For each query, the k current memories of its scope nearest to its vector, plus the current
     * holder of its attribute (same subject and key) when one is given; most similar first. One
     * transaction for all of a request's facts.
     */
    neighbours: (
      tenantId: string,
      queries: {
        scope: ReconcileScope;
        vector: string;
        attribute?: { subject: string; key: string } | undefined;
      }[],
      k: number,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        const all: Neighbour[][] = [];
        for (const q of queries) {
          const params: unknown[] = [tenantId, q.vector, k];
          const where = `tenant_id = $1 AND valid_to IS NULL AND ${modelPredicate}${reconcileScopeSql(q.scope, params)}`;
          let holder = "";
          if (q.attribute) {
            holder = `UNION SELECT id FROM memories WHERE ${where}
                        AND attribute_key = $${params.push(q.attribute.key)}
                        AND attribute_subject = $${params.push(q.attribute.subject)}`;
          }
          const rows = await tx.query<{
            id: string;
            memory: string;
            attribute_subject: string | null;
            attribute_key: string | null;
            valid_from: Date;
            similarity: number;
          }>(
            `WITH near AS (
               (SELECT id FROM memories WHERE ${where}
                ORDER BY ${emb} <=> $2::vector(${model.dimension}) LIMIT $3)
               ${holder}
             )
             SELECT m.id, m.memory, m.attribute_subject, m.attribute_key, m.valid_from,
                    1 - (m.${emb} <=> $2::vector(${model.dimension})) AS similarity
             FROM near JOIN memories m ON m.id = near.id
             ORDER BY similarity DESC, m.id`,
            params,
          );
          all.push(
            rows.map(
              (r): Neighbour => ({
                id: r.id,
                memory: r.memory,
                similarity: Number(r.similarity),
                attribute:
                  r.attribute_key && r.attribute_subject
                    ? { key: r.attribute_key, subject: r.attribute_subject }
                    : null,
                validFrom: r.valid_from.toISOString(),
              }),
            ),
          );
        }
        return all;
      }),

    /**
     * Applies the decisions in order, in one transaction under the scope's lock: every target must
     * still be current (else StaleTarget, and nothing is written). History (NOOP included), usage,
     * LLM spend (`after`) and the idempotency record commit with the memories.
     */
    apply: (
      tenantId: string,
      projectId: string,
      scopes: ReconcileScope[],
      writes: InferenceWrite[],
      opts: {
        inference: AddMemoryResponse["inference"];
        idem?: IdempotencyRequest | undefined;
        usage?: UsageHook | undefined;
        after?: ((tx: Queryable) => Promise<void>) | undefined;
      },
    ) =>
      db.withTenant(tenantId, async (tx) => {
        if (opts.idem) {
          const earlier = await findIdempotentResponse(tx, tenantId, opts.idem);
          if (earlier) return earlier as AddMemoryResponse;
        }
        // In one order, so two batches over the same scopes cannot deadlock.
        const keys = [...new Set(scopes.map((s) => scopeKey(tenantId, s)))].sort();
        for (const key of keys) {
          await tx.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [key]);
        }
        const results: AddMemoryResult[] = [];
        const delta: UsageDelta = { ops: 0, memories: 0, bytes: 0 };
        let retexted = false;
        // Entity writes wait until every memory row is written (the lock order, entity-links.ts).
        const links: EntityLinks[] = [];
        const closes: { memoryId: string; validTo: string }[] = [];
        const history = (
          memoryId: string,
          event: AddMemoryResult["event"],
          w: InferenceWrite,
          extra: Partial<HistoryRow> = {},
        ) =>
          insertHistory(
            tx,
            tenantId,
            projectId,
            [
              {
                memoryId,
                event,
                oldMemory: null,
                newMemory: null,
                oldMetadata: null,
                newMetadata: null,
                reason: w.reason,
                sources: w.sources,
                engine: w.engine,
                ...extra,
              },
            ],
            emit,
          );

        for (const w of writes) {
          if (w.kind === "noop") {
            const t = await target(tx, tenantId, projectId, w.targetId);
            await history(t.id, "NOOP", w, { oldMemory: t.memory, newMemory: t.memory });
            results.push({ id: t.id, memory: t.memory, event: "NOOP", reason: w.reason });
            continue;
          }
          if (w.kind === "invalidate") {
            const t = await target(tx, tenantId, projectId, w.targetId);
            await tx.query(
              `UPDATE memories SET valid_to = greatest(valid_from, $3::timestamptz), updated_at = now()
               WHERE tenant_id = $1 AND id = $2`,
              [tenantId, t.id, w.validTo],
            );
            closes.push({ memoryId: t.id, validTo: w.validTo });
            await history(t.id, "DELETE", w, { oldMemory: t.memory, oldMetadata: t.metadata });
            delta.ops += 1;
            results.push({
              id: t.id,
              memory: t.memory,
              event: "DELETE",
              previous_memory: t.memory,
              reason: w.reason,
            });
            continue;
          }
          if (w.kind === "enrich") {
            const t = await target(tx, tenantId, projectId, w.targetId);
            // The enriched text may equal another current memory of the target's scope.
            const [twin] = await tx.query<{ id: string }>(
              `SELECT d.id FROM memories d JOIN memories t ON t.tenant_id = d.tenant_id AND t.id = $2
               WHERE d.tenant_id = $1 AND d.project_id = t.project_id AND d.id <> t.id
                 AND d.user_id IS NOT DISTINCT FROM t.user_id AND d.agent_id IS NOT DISTINCT FROM t.agent_id
                 AND d.session_id IS NOT DISTINCT FROM t.session_id
                 AND d.content_hash = decode($3, 'hex') AND d.valid_to IS NULL`,
              [tenantId, t.id, w.contentHash],
            );
            if (twin) {
              const reason = `the enriched text is already stored as ${twin.id}`;
              await history(
                t.id,
                "NOOP",
                { ...w, reason },
                { oldMemory: t.memory, newMemory: t.memory },
              );
              results.push({ id: t.id, memory: t.memory, event: "NOOP", reason });
              continue;
            }
            await unindexTerms(tx, tenantId, projectId, [t.id]);
            const [row] = (await tx.query<{ bytes: string }>(
              `UPDATE memories SET memory = $3, content_hash = decode($4, 'hex'), embedding = $5::vector,
                      sources = sources || $6::jsonb, updated_at = now()
               WHERE tenant_id = $1 AND id = $2
               RETURNING ${MEMORY_BYTES_SQL} AS bytes`,
              [tenantId, t.id, w.text, w.contentHash, w.embedding, JSON.stringify(w.sourceRefs)],
            )) as [{ bytes: string }];
            await indexTerms(tx, tenantId, projectId, [t.id]);
            retexted = true;
            if (w.entities) links.push({ id: t.id, owner: t.user_id, extraction: w.entities });
            await history(t.id, "UPDATE", w, {
              oldMemory: t.memory,
              newMemory: w.text,
              oldMetadata: t.metadata,
              newMetadata: t.metadata,
            });
            delta.ops += 1;
            delta.bytes += Number(row.bytes) - Number(t.bytes);
            results.push({
              id: t.id,
              memory: w.text,
              event: "UPDATE",
              previous_memory: t.memory,
              reason: w.reason,
            });
            continue;
          }
          // add or supersede: a new memory.
          const old =
            w.kind === "supersede" ? await target(tx, tenantId, projectId, w.targetId) : undefined;
          const [inserted] = await insertMemoryRows(tx, tenantId, projectId, [w.row], model);
          if (!inserted) {
            const dup = (await currentDuplicates(tx, tenantId, projectId, [w.row])).get(
              dedupKey(w.row),
            ) as { id: string; memory: string };
            const reason = `already stored as ${dup.id} (same text)`;
            await history(
              dup.id,
              "NOOP",
              { ...w, reason },
              {
                oldMemory: dup.memory,
                newMemory: dup.memory,
              },
            );
            results.push({ id: dup.id, memory: dup.memory, event: "NOOP", reason });
            continue;
          }
          delta.ops += 1;
          delta.memories += 1;
          delta.bytes += Number(inserted.bytes);
          links.push(...entityLinksOf([w.row], new Set([inserted.id])));
          if (!old) {
            await history(inserted.id, "ADD", w, {
              newMemory: w.row.memory,
              newMetadata: w.row.metadata,
            });
            results.push({ id: inserted.id, memory: w.row.memory, event: "ADD", reason: w.reason });
            continue;
          }
          const until = w.row.validFrom ?? new Date().toISOString();
          await tx.query(
            `UPDATE memories SET valid_to = greatest(valid_from, $3::timestamptz), superseded_by = $4,
                    updated_at = now()
             WHERE tenant_id = $1 AND id = $2`,
            [tenantId, old.id, until, inserted.id],
          );
          closes.push({ memoryId: old.id, validTo: until });
          await history(inserted.id, "ADD", w, {
            newMemory: w.row.memory,
            newMetadata: w.row.metadata,
            relatedMemoryId: old.id,
          });
          await history(old.id, "UPDATE", w, {
            oldMemory: old.memory,
            newMemory: old.memory,
            oldMetadata: old.metadata,
            newMetadata: old.metadata,
            relatedMemoryId: inserted.id,
            supersededBy: inserted.id,
            reason: `superseded by ${inserted.id}: ${w.reason}`,
          });
          results.push({
            id: inserted.id,
            memory: w.row.memory,
            event: "UPDATE",
            previous_memory: old.memory,
            supersedes: old.id,
            reason: w.reason,
          });
        }
        if (retexted) await dropUnusedTermStats(tx, tenantId, projectId);
        await closeRelations(tx, tenantId, projectId, closes);
        await linkMemories(tx, tenantId, projectId, links);
        if (opts.usage && (delta.ops > 0 || delta.memories !== 0)) await opts.usage(tx, delta);
        await opts.after?.(tx);
        const response: AddMemoryResponse = {
          results,
          ...(opts.inference ? { inference: opts.inference } : {}),
        };
        if (opts.idem && !(await saveIdempotentResponse(tx, tenantId, opts.idem, 201, response))) {
          throw new IdempotencyRace();
        }
        return response;
      }),
  };
}
export type InferenceStore = ReturnType<typeof createInferenceStore>;
