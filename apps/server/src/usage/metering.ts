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

/** A quota's use reaching 80 or 100 percent of its limit, announced once per period. */
interface QuotaThreshold {
  metric: "memory_operations" | "active_memories" | "storage_bytes";
  threshold: 80 | 100;
  used: number;
  limit: number;
  periodStart: string;
}

/** Told, inside the write's transaction, of the thresholds it crossed (webhooks' quota.threshold). */
export type QuotaThresholdHook = (
  tx: Queryable,
  tenantId: string,
  crossed: QuotaThreshold[],
) => Promise<void>;

/** Who is writing, under which limits; taken from the request's tenant context. */
export interface MeterContext {
  tenantId: string;
  projectId: string;
  keyId: string | null;
  requestId: string;
  plan: EffectivePlan;
  /** Told of crossed quota thresholds; none are recorded without it. */
  thresholds?: QuotaThresholdHook | undefined;
}

const THRESHOLDS = [80, 100] as const;

/**
 * Records the thresholds a write crossed (its use before < the mark <= its use after), each once
 * per period (quota_notices), and tells the hook of those not announced before.
 */
async function noticeThresholds(
  tx: Queryable,
  m: MeterContext,
  periodStart: string,
  moves: {
    metric: QuotaThreshold["metric"];
    before: number;
    after: number;
    limit: number | null;
  }[],
): Promise<void> {
  if (!m.thresholds) return;
  const crossed: QuotaThreshold[] = [];
  for (const { metric, before, after, limit } of moves) {
    if (limit === null || limit <= 0 || after <= before) continue;
    for (const threshold of THRESHOLDS) {
      const mark = (limit * threshold) / 100;
      if (before < mark && after >= mark) {
        crossed.push({ metric, threshold, used: after, limit, periodStart });
      }
    }
  }
  if (crossed.length === 0) return;
  const fresh = await tx.query<{ metric: string; threshold: number }>(
    `INSERT INTO quota_notices (tenant_id, period_start, metric, threshold)
     SELECT $1, $2, d.metric, d.threshold FROM unnest($3::text[], $4::int[]) AS d(metric, threshold)
     ON CONFLICT DO NOTHING RETURNING metric, threshold`,
    [m.tenantId, periodStart, crossed.map((c) => c.metric), crossed.map((c) => c.threshold)],
  );
  const isFresh = (c: QuotaThreshold) =>
    fresh.some((f) => f.metric === c.metric && Number(f.threshold) === c.threshold);
  const announced = crossed.filter(isFresh);
  if (announced.length > 0) await m.thresholds(tx, m.tenantId, announced);
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
 * billable operations are recorded as one idempotent usage event. One statement, so one round
 * trip: its row says which part was refused. Throws quota_exceeded, which rolls the whole write
 * back (the usage event and the other part with it).
 */
export async function applyUsage(
  tx: Queryable,
  m: MeterContext,
  operation: string,
  delta: UsageDelta,
  now = new Date(),
): Promise<void> {
  const { limits } = m.plan;
  const counting = delta.ops > 0;
  const moving = delta.memories !== 0 || delta.bytes !== 0;
  if (!counting && !moving) return;
  const period = periodOf(now);
  const periodStart = period.start.toISOString().slice(0, 10);
  // The counter row is locked before the gauges' (the select list reads `counted` first), in
  // every writer alike.
  const [row] = await tx.query<{
    used: string | null;
    active: string | null;
    bytes: string | null;
  }>(
    `WITH counted AS (
       INSERT INTO usage_counters (tenant_id, period_start, metric, used)
       SELECT $1, $2, 'memory_operations', $3::bigint
       WHERE $3::bigint > 0 AND ($4::bigint IS NULL OR $3::bigint <= $4::bigint)
       ON CONFLICT (tenant_id, period_start, metric)
       DO UPDATE SET used = usage_counters.used + excluded.used
       WHERE $4::bigint IS NULL OR usage_counters.used + excluded.used <= $4::bigint
       RETURNING used),
     moved AS (
       UPDATE tenant_usage
       SET active_memories = active_memories + $5::bigint, storage_bytes = storage_bytes + $6::bigint
       WHERE tenant_id = $1 AND ($5::bigint <> 0 OR $6::bigint <> 0)
         AND ($5::bigint <= 0 OR $7::bigint IS NULL OR active_memories + $5::bigint <= $7::bigint)
         AND ($6::bigint <= 0 OR $8::bigint IS NULL OR storage_bytes + $6::bigint <= $8::bigint)
       RETURNING active_memories, storage_bytes),
     event AS (
       INSERT INTO usage_events (id, tenant_id, project_id, key_id, event_key, metric, quantity)
       SELECT $9, $1, $10, $11, $12, 'memory_operations', $3::bigint WHERE EXISTS (SELECT FROM counted)
       ON CONFLICT (tenant_id, event_key) DO NOTHING)
     SELECT (SELECT used FROM counted) AS used, (SELECT active_memories FROM moved) AS active,
            (SELECT storage_bytes FROM moved) AS bytes`,
    [
      m.tenantId,
      periodStart,
      delta.ops,
      limits.memory_operations,
      delta.memories,
      delta.bytes,
      limits.active_memories,
      limits.storage_bytes,
      newId("use"),
      m.projectId,
      m.keyId,
      `${operation}:${m.requestId}`,
    ],
  );
  if (counting && row?.used == null) {
    const [current] = await tx.query<{ used: string }>(
      "SELECT used FROM usage_counters WHERE tenant_id = $1 AND period_start = $2 AND metric = 'memory_operations'",
      [m.tenantId, periodStart],
    );
    throw quotaExceeded(
      "memory_operations",
      limits.memory_operations as number,
      Number(current?.used ?? 0),
      period.end,
    );
  }
  if (moving && (row?.active == null || row.bytes == null)) {
    const [current] = await tx.query<{ active_memories: string; storage_bytes: string }>(
      "SELECT active_memories, storage_bytes FROM tenant_usage WHERE tenant_id = $1",
      [m.tenantId],
    );
    const active = Number(current?.active_memories ?? 0);
    const limit = limits.active_memories;
    if (delta.memories > 0 && limit !== null && active + delta.memories > limit) {
      throw quotaExceeded("active_memories", limit, active, null);
    }
    throw quotaExceeded(
      "storage_bytes",
      limits.storage_bytes as number,
      Number(current?.storage_bytes ?? 0),
      null,
    );
  }
  const moves: Parameters<typeof noticeThresholds>[3] = [];
  if (counting) {
    const used = Number(row?.used ?? 0);
    moves.push({
      metric: "memory_operations",
      before: used - delta.ops,
      after: used,
      limit: limits.memory_operations,
    });
  }
  if (moving) {
    const active = Number(row?.active ?? 0);
    const bytes = Number(row?.bytes ?? 0);
    moves.push(
      {
        metric: "active_memories",
        before: active - delta.memories,
        after: active,
        limit: limits.active_memories,
      },
      {
        metric: "storage_bytes",
        before: bytes - delta.bytes,
        after: bytes,
        limit: limits.storage_bytes,
      },
    );
  }
  await noticeThresholds(tx, m, periodStart, moves);
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
export function usageHook(
  ctx: TenantContext,
  operation: string,
  thresholds?: QuotaThresholdHook,
): UsageHook {
  const meter = { ...meterOf(ctx), thresholds };
  return (tx, delta) => applyUsage(tx, meter, operation, delta);
}

/**
 * Refuses (quota_exceeded) a write the tenant has no room left for at all: its period's
 * operations, its active memories or its storage already at the plan's limit. For work accepted
 * now and done later (asynchronous adds): the write itself still goes through applyUsage.
 */
export async function assertQuotaHeadroom(
  tx: Queryable,
  m: Pick<MeterContext, "tenantId" | "plan">,
  now = new Date(),
): Promise<void> {
  const { limits } = m.plan;
  const period = periodOf(now);
  const [row] = await tx.query<{ ops: string | null; active: string | null; bytes: string | null }>(
    `SELECT (SELECT used FROM usage_counters
             WHERE tenant_id = $1 AND period_start = $2 AND metric = 'memory_operations') AS ops,
            u.active_memories AS active, u.storage_bytes AS bytes
     FROM (SELECT 1) AS one LEFT JOIN tenant_usage u ON u.tenant_id = $1`,
    [m.tenantId, period.start.toISOString().slice(0, 10)],
  );
  const ops = Number(row?.ops ?? 0);
  const active = Number(row?.active ?? 0);
  const bytes = Number(row?.bytes ?? 0);
  if (limits.memory_operations !== null && ops >= limits.memory_operations) {
    throw quotaExceeded("memory_operations", limits.memory_operations, ops, period.end);
  }
  if (limits.active_memories !== null && active >= limits.active_memories) {
    throw quotaExceeded("active_memories", limits.active_memories, active, null);
  }
  if (limits.storage_bytes !== null && bytes >= limits.storage_bytes) {
    throw quotaExceeded("storage_bytes", limits.storage_bytes, bytes, null);
  }
}
