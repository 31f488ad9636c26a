import type {
  InvoicePreview,
  QuotaMetric,
  UsageHistoryQuery,
  UsageHistoryResponse,
  UsageResponse,
} from "@engram/contract";
import type { Database } from "../db/database.ts";
import { AppError, notFound } from "../lib/errors.ts";
import { isId } from "../lib/ids.ts";
import { type EffectivePlan, type PlanCatalog, periodOf } from "../plans/plans.ts";
import { requireScope, type TenantContext } from "../tenancy/context.ts";

const GB = 1e9;
const cents = (usd: number) => Math.round(usd * 100) / 100;

/** Usage reads: the current period against the plan, past periods, and the invoice preview. */
export function createUsageService(db: Database, plans: PlanCatalog) {
  async function current(tenantId: string, now: Date) {
    const period = periodOf(now);
    return db.withTenant(tenantId, async (tx) => {
      const [ops] = await tx.query<{ used: string }>(
        `SELECT used FROM usage_counters
         WHERE tenant_id = $1 AND period_start = $2 AND metric = 'memory_operations'`,
        [tenantId, period.start.toISOString().slice(0, 10)],
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
      const used: Record<QuotaMetric, number> = {
        memory_operations: Number(ops?.used ?? 0),
        storage_bytes: Number(gauges?.storage_bytes ?? 0),
        active_memories: Number(gauges?.active_memories ?? 0),
        projects: Number(projects?.n ?? 0),
        api_keys: Number(keys?.n ?? 0),
      };
      return { period, used };
    });
  }

  function metrics(plan: EffectivePlan, used: Record<QuotaMetric, number>) {
    return (Object.keys(used) as QuotaMetric[]).map((metric) => {
      const limit = plan.limits[metric];
      return {
        metric,
        used: used[metric],
        limit,
        included: plan.included[metric],
        percent:
          limit === null
            ? null
            : limit === 0
              ? 100
              : Math.round((used[metric] / limit) * 10000) / 100,
      };
    });
  }

  return {
    /** GET /v1/usage: each metric's use in the current period against the tenant's limits. */
    async getUsage(ctx: TenantContext, now = new Date()): Promise<UsageResponse> {
      requireScope(ctx, "usage:read");
      const { period, used } = await current(ctx.tenantId, now);
      return {
        plan: ctx.plan.id,
        period_start: period.start.toISOString(),
        period_end: period.end.toISOString(),
        metrics: metrics(ctx.plan, used),
      };
    },

    /** GET /v1/usage/history: metered operations per past period, newest first. */
    async getUsageHistory(
      ctx: TenantContext,
      input: UsageHistoryQuery,
    ): Promise<UsageHistoryResponse> {
      requireScope(ctx, "usage:read");
      let before: string | null = null;
      if (input.cursor !== undefined) {
        before = Buffer.from(input.cursor, "base64url").toString();
        const month = Number(before.slice(5, 7));
        if (!/^\d{4}-\d{2}-01$/.test(before) || month < 1 || month > 12 || before < "0100") {
          throw new AppError("validation_failed", "cursor is not valid", "cursor");
        }
      }
      const limit = input.limit ?? 12;
      const rows = await db.withTenant(ctx.tenantId, (tx) =>
        tx.query<{ period_start: string; used: string }>(
          `SELECT to_char(period_start, 'YYYY-MM-DD') AS period_start, used FROM usage_counters
           WHERE tenant_id = $1 AND metric = 'memory_operations' AND ($2::date IS NULL OR period_start < $2::date)
           ORDER BY period_start DESC LIMIT $3`,
          [ctx.tenantId, before, limit + 1],
        ),
      );
      const shown = rows.slice(0, limit);
      const last = shown.at(-1);
      return {
        results: shown.map((r) => {
          const p = periodOf(new Date(`${r.period_start}T00:00:00Z`));
          return {
            period_start: p.start.toISOString(),
            period_end: p.end.toISOString(),
            memory_operations: Number(r.used),
          };
        }),
        next_cursor:
          rows.length > limit && last ? Buffer.from(last.period_start).toString("base64url") : null,
      };
    },

    /**
     * The current period's invoice so far: the plan price, then overage on operations beyond the
     * included amount and on stored GB beyond it (the current storage counted for the whole month).
     */
    async invoicePreview(tenantId: string, now = new Date()): Promise<InvoicePreview> {
      const tenant = isId("ten", tenantId)
        ? await db.withTenant(tenantId, async (tx) => {
            const [row] = await tx.query<{ plan: string; overrides: object }>(
              "SELECT plan, overrides FROM tenants WHERE id = $1",
              [tenantId],
            );
            return row;
          })
        : undefined;
      if (!tenant) throw notFound("Tenant", tenantId);
      const plan = plans.effective(tenant.plan, tenant.overrides);
      const catalogPlan = plans.get(plan.id);
      const { period, used } = await current(tenantId, now);
      const lines = [
        {
          description: `${catalogPlan?.name ?? plan.id} plan`,
          quantity: 1,
          unit_price_usd: catalogPlan?.price_usd_month ?? 0,
          amount_usd: catalogPlan?.price_usd_month ?? 0,
        },
      ];
      const includedOps = plan.included.memory_operations;
      if (includedOps !== null && used.memory_operations > includedOps) {
        const extra = used.memory_operations - includedOps;
        const unit = plans.overage.memory_operation_usd;
        lines.push({
          description: `Memory operations beyond ${includedOps}`,
          quantity: extra,
          unit_price_usd: unit,
          amount_usd: cents(extra * unit),
        });
      }
      const includedBytes = plan.included.storage_bytes;
      if (includedBytes !== null && used.storage_bytes > includedBytes) {
        const gbMonths = Math.round(((used.storage_bytes - includedBytes) / GB) * 1000) / 1000;
        const unit = plans.overage.storage_gb_month_usd;
        lines.push({
          description: `Storage beyond ${includedBytes / GB} GB (GB-months)`,
          quantity: gbMonths,
          unit_price_usd: unit,
          amount_usd: cents(gbMonths * unit),
        });
      }
      return {
        tenant_id: tenantId,
        plan: plan.id,
        period_start: period.start.toISOString(),
        period_end: period.end.toISOString(),
        lines,
        total_usd: cents(lines.reduce((sum, l) => sum + l.amount_usd, 0)),
      };
    },
  };
}
export type UsageService = ReturnType<typeof createUsageService>;
