import type { QuotaMetric } from "@engram/contract";
import type { Queryable } from "../db/database.ts";
import { AppError } from "../lib/errors.ts";
import { newId } from "../lib/ids.ts";
import { type EffectivePlan, periodOf } from "../plans/plans.ts";
import type { TenantContext } from "../tenancy/context.ts";

/** What one write changes: billable operations, and the active-memory and storage gauges. */
export interface UsageDelta {
  /** Billable memory operations (each memory stored or updated). */
  ops: number;
  /** Change in the number of stored memories. */
  memories: number;
  /** Change in stored bytes (text, metadata and vector). */
  bytes: number;
}

/** Called by a store inside the write's transaction, after its rows are written, before commit. */
export type UsageHook = (tx: Queryable, delta: UsageDelta) => Promise<void>;

/** Who is writing, under which limits; taken from the request's tenant context. */
export interface MeterContext {
  tenantId: string;
  projectId: string;
  keyId: string | null;
  requestId: string;
  plan: EffectivePlan;
}

/** SQL a stored memory's size is counted with (text, metadata as stored, 4 bytes a dimension). */
export const MEMORY_BYTES_SQL =
  "(octet_length(memory) + octet_length(metadata::text) + 4 * embedding_dim)::bigint";

function quotaExceeded(
  metric: QuotaMetric,
  limit: number,
  used: number,
  periodEnd: Date | null,
): AppError {
  const until = periodEnd ? ` until ${periodEnd.toISOString()}` : "";
  return new AppError(
    "quota_exceeded",
    `The plan's ${metric} quota (${limit}) is used up (${used} used)${until}; upgrade the plan or free some`,
    undefined,
    { metric, limit, used, ...(periodEnd ? { period_end: periodEnd.toISOString() } : {}) },
  );
}

/**
 * Applies a write's usage atomically in its transaction: the period's operation counter and the
 * gauges only move while they stay within the limits (a conditional upsert / update, so fifty
 * concurrent writers at the edge serialise on the counter row and none passes the limit), and the
 * billable operations are recorded as one idempotent usage event. Throws quota_exceeded, which
 * rolls the whole write back.
 */
export async function applyUsage(
  tx: Queryable,
  m: MeterContext,
  operation: string,
  delta: UsageDelta,
  now = new Date(),
): Promise<void> {
  const { limits } = m.plan;
  if (delta.ops > 0) {
    const period = periodOf(now);
    const periodStart = period.start.toISOString().slice(0, 10);
    const counted = await tx.query(
      `INSERT INTO usage_counters (tenant_id, period_start, metric, used)
       SELECT $1, $2, 'memory_operations', $3 WHERE $4::bigint IS NULL OR $3 <= $4::bigint
       ON CONFLICT (tenant_id, period_start, metric)
       DO UPDATE SET used = usage_counters.used + excluded.used
       WHERE $4::bigint IS NULL OR usage_counters.used + excluded.used <= $4::bigint
       RETURNING used`,
      [m.tenantId, periodStart, delta.ops, limits.memory_operations],
    );
    if (counted.length === 0) {
      const [row] = await tx.query<{ used: string }>(
        "SELECT used FROM usage_counters WHERE tenant_id = $1 AND period_start = $2 AND metric = 'memory_operations'",
        [m.tenantId, periodStart],
      );
      throw quotaExceeded(
        "memory_operations",
        limits.memory_operations as number,
        Number(row?.used ?? 0),
        period.end,
      );
    }
    await tx.query(
      `INSERT INTO usage_events (id, tenant_id, project_id, key_id, event_key, metric, quantity)
       VALUES ($1, $2, $3, $4, $5, 'memory_operations', $6)
       ON CONFLICT (tenant_id, event_key) DO NOTHING`,
      [newId("use"), m.tenantId, m.projectId, m.keyId, `${operation}:${m.requestId}`, delta.ops],
    );
  }
  if (delta.memories !== 0 || delta.bytes !== 0) {
    const moved = await tx.query(
      `UPDATE tenant_usage
       SET active_memories = active_memories + $2, storage_bytes = storage_bytes + $3
       WHERE tenant_id = $1
         AND ($2 <= 0 OR $4::bigint IS NULL OR active_memories + $2 <= $4::bigint)
         AND ($3 <= 0 OR $5::bigint IS NULL OR storage_bytes + $3 <= $5::bigint)
       RETURNING active_memories`,
      [m.tenantId, delta.memories, delta.bytes, limits.active_memories, limits.storage_bytes],
    );
    if (moved.length === 0) {
      const [row] = await tx.query<{ active_memories: string; storage_bytes: string }>(
        "SELECT active_memories, storage_bytes FROM tenant_usage WHERE tenant_id = $1",
        [m.tenantId],
      );
      const active = Number(row?.active_memories ?? 0);
      const limit = limits.active_memories;
      if (delta.memories > 0 && limit !== null && active + delta.memories > limit) {
        throw quotaExceeded("active_memories", limit, active, null);
      }
      throw quotaExceeded(
        "storage_bytes",
        limits.storage_bytes as number,
        Number(row?.storage_bytes ?? 0),
        null,
      );
    }
  }
}

/** Who is writing, from the request's tenant context (applyUsage, recordLlmCalls). */
export function meterOf(ctx: TenantContext): MeterContext {
  return {
    tenantId: ctx.tenantId,
    projectId: ctx.projectId,
    keyId: ctx.actor.kind === "key" ? ctx.actor.keyId : null,
    requestId: ctx.requestId,
    plan: ctx.plan,
  };
}

/** The usage step of one write by this request's key: applyUsage inside the write's transaction. */
export function usageHook(ctx: TenantContext, operation: string): UsageHook {
  const meter = meterOf(ctx);
  return (tx, delta) => applyUsage(tx, meter, operation, delta);
}
