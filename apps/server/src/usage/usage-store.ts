import type { PlanOverrides, QuotaMetric } from "@engram/contract";
import type { Database } from "../db/database.ts";
import { LLM_COST_METRIC } from "./llm-usage.ts";

/** One model's LLM calls in a period; spend in integer micro-dollars. */
interface LlmModelRow {
  model: string;
  calls: number;
  tokensIn: number;
  tokensOut: number;
  costMicroUsd: number;
}

/** SQL for the usage reads: the period's counters and gauges, past periods, the tenant's plan. */
export function createUsageStore(db: Database) {
  return {
    /** Each metric's use in the period starting on `periodStart`, read in one transaction. */
    periodUsage: (tenantId: string, periodStart: Date) =>
      db.withTenant(tenantId, async (tx): Promise<Record<QuotaMetric, number>> => {
        const [ops] = await tx.query<{ used: string }>(
          `SELECT used FROM usage_counters
           WHERE tenant_id = $1 AND period_start = $2 AND metric = 'memory_operations'`,
          [tenantId, periodStart.toISOString().slice(0, 10)],
        );
        const [gauges] = await tx.query<{ active_memories: string; storage_bytes: string }>(
          "SELECT active_memories, storage_bytes FROM tenant_usage WHERE tenant_id = $1",
          [tenantId],
        );
        const [projects] = await tx.query<{ n: string }>(
          "SELECT count(*) AS n FROM projects WHERE tenant_id = $1",
          [tenantId],
        );
        // Active keys as the plan's api_keys limit counts them (tenancy's key creation).
        const [keys] = await tx.query<{ n: string }>(
          `SELECT count(*) AS n FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL
             AND (expires_at IS NULL OR expires_at > now())`,
          [tenantId],
        );
        const [agents] = await tx.query<{ n: string }>(
          "SELECT count(*) AS n FROM agents WHERE tenant_id = $1",
          [tenantId],
        );
        return {
          memory_operations: Number(ops?.used ?? 0),
          storage_bytes: Number(gauges?.storage_bytes ?? 0),
          active_memories: Number(gauges?.active_memories ?? 0),
          projects: Number(projects?.n ?? 0),
          api_keys: Number(keys?.n ?? 0),
          agents: Number(agents?.n ?? 0),
        };
      }),

    /**
     * The period's LLM calls: its spend counter (what the budget check reads) and the calls per
     * model, most expensive first, read in one transaction.
     */
    periodLlmUsage: (tenantId: string, period: { start: Date; end: Date }) =>
      db.withTenant(tenantId, async (tx) => {
        const [spent] = await tx.query<{ used: string }>(
          `SELECT used FROM usage_counters
           WHERE tenant_id = $1 AND period_start = $2 AND metric = $3`,
          [tenantId, period.start.toISOString().slice(0, 10), LLM_COST_METRIC],
        );
        const rows = await tx.query<{
          model: string;
          calls: string;
          tokens_in: string;
          tokens_out: string;
          cost: string;
        }>(
          `SELECT model, count(*) AS calls, sum(tokens_in) AS tokens_in,
                  sum(tokens_out) AS tokens_out, sum(cost_micro_usd) AS cost
           FROM llm_calls
           WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3
           GROUP BY model ORDER BY sum(cost_micro_usd) DESC, model`,
          [tenantId, period.start, period.end],
        );
        return {
          spentMicroUsd: Number(spent?.used ?? 0),
          byModel: rows.map(
            (r): LlmModelRow => ({
              model: r.model,
              calls: Number(r.calls),
              tokensIn: Number(r.tokens_in),
              tokensOut: Number(r.tokens_out),
              costMicroUsd: Number(r.cost),
            }),
          ),
        };
      }),

    /** The period's agent answers (chat_messages), summed, with time-to-first-token percentiles. */
    periodChatUsage: (tenantId: string, period: { start: Date; end: Date }) =>
      db.withTenant(tenantId, async (tx) => {
        const [row] = await tx.query<Record<string, string | number | null>>(
          `SELECT count(*) AS answers, count(*) FILTER (WHERE cached) AS cached,
                  count(*) FILTER (WHERE fallback) AS fallbacks,
                  count(*) FILTER (WHERE terminated) AS terminated,
                  coalesce(sum(tokens_in), 0) AS tokens_in, coalesce(sum(tokens_out), 0) AS tokens_out,
                  coalesce(sum(cost_micro_usd), 0) AS cost,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY ttft_ms) AS ttft_p50,
                  percentile_cont(0.99) WITHIN GROUP (ORDER BY ttft_ms) AS ttft_p99
           FROM chat_messages
           WHERE tenant_id = $1 AND role = 'assistant' AND created_at >= $2 AND created_at < $3`,
          [tenantId, period.start, period.end],
        );
        const n = (k: string) => Number(row?.[k] ?? 0);
        const ms = (k: string) => (row?.[k] == null ? null : Math.round(Number(row[k]) * 10) / 10);
        return {
          answers: n("answers"),
          cached: n("cached"),
          fallbacks: n("fallbacks"),
          terminated: n("terminated"),
          tokensIn: n("tokens_in"),
          tokensOut: n("tokens_out"),
          costMicroUsd: n("cost"),
          ttftP50: ms("ttft_p50"),
          ttftP99: ms("ttft_p99"),
        };
      }),

    /**
     * A page of metered operations per period (`YYYY-MM-DD` starts), newest first, before the
     * period starting on `before` (null: from the latest).
     */
    listPeriods: (tenantId: string, limit: number, before: string | null) =>
      db.withTenant(tenantId, async (tx) => {
        const rows = await tx.query<{ period_start: string; used: string }>(
          `SELECT to_char(period_start, 'YYYY-MM-DD') AS period_start, used FROM usage_counters
           WHERE tenant_id = $1 AND metric = 'memory_operations' AND ($2::date IS NULL OR period_start < $2::date)
           ORDER BY period_start DESC LIMIT $3`,
          [tenantId, before, limit + 1],
        );
        return { rows: rows.slice(0, limit), more: rows.length > limit };
      }),

    /** The tenant's plan and overrides, or undefined when there is no such tenant. */
    findPlan: (tenantId: string) =>
      db.withTenant(tenantId, async (tx) => {
        const [row] = await tx.query<{ plan: string; overrides: PlanOverrides }>(
          "SELECT plan, overrides FROM tenants WHERE id = $1",
          [tenantId],
        );
        return row;
      }),
  };
}
export type UsageStore = ReturnType<typeof createUsageStore>;
