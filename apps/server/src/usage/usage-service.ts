import type {
  InvoicePreview,
  LlmUsage,
  QuotaMetric,
  UsageHistoryQuery,
  UsageHistoryResponse,
  UsageResponse,
} from "@engram/contract";
import { AppError, notFound } from "../lib/errors.ts";
import { isId } from "../lib/ids.ts";
import { type EffectivePlan, type PlanCatalog, periodOf } from "../plans/plans.ts";
import { requireScope, type TenantContext } from "../tenancy/context.ts";
import { fromMicroUsd, toMicroUsd } from "./llm-usage.ts";
import type { UsageStore } from "./usage-store.ts";

const GB = 1e9;
const cents = (usd: number) => Math.round(usd * 100) / 100;

/** Usage reads: the current period against the plan, past periods, and the invoice preview. */
export function createUsageService(store: UsageStore, plans: PlanCatalog) {
  async function current(tenantId: string, now: Date) {
    const period = periodOf(now);
    return { period, used: await store.periodUsage(tenantId, period.start) };
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

  /** The period's LLM spend against the plan's budget, with the calls per model. */
  async function llm(
    tenantId: string,
    plan: EffectivePlan,
    period: { start: Date; end: Date },
  ): Promise<LlmUsage> {
    const { spentMicroUsd, byModel } = await store.periodLlmUsage(tenantId, period);
    const budget = plan.llmBudgetUsd;
    const budgetMicro = budget === null ? null : toMicroUsd(budget);
    const sum = (pick: (m: (typeof byModel)[number]) => number) =>
      byModel.reduce((total, m) => total + pick(m), 0);
    return {
      spend_usd: fromMicroUsd(spentMicroUsd),
      budget_usd: budget,
      percent:
        budgetMicro === null
          ? null
          : budgetMicro === 0
            ? 100
            : Math.round((spentMicroUsd / budgetMicro) * 10000) / 100,
      exhausted: budgetMicro !== null && spentMicroUsd >= budgetMicro,
      calls: sum((m) => m.calls),
      tokens_in: sum((m) => m.tokensIn),
      tokens_out: sum((m) => m.tokensOut),
      by_model: byModel.map((m) => ({
        model: m.model,
        calls: m.calls,
        tokens_in: m.tokensIn,
        tokens_out: m.tokensOut,
        spend_usd: fromMicroUsd(m.costMicroUsd),
      })),
    };
  }

  /** The period's agent chat: answers, cache hits, fallbacks, tokens, cost, time to first token. */
  async function chat(tenantId: string, period: { start: Date; end: Date }) {
    const c = await store.periodChatUsage(tenantId, period);
    return {
      answers: c.answers,
      cached: c.cached,
      cache_hit_rate: c.answers === 0 ? null : Math.round((c.cached / c.answers) * 10000) / 10000,
      fallbacks: c.fallbacks,
      terminated: c.terminated,
      tokens_in: c.tokensIn,
      tokens_out: c.tokensOut,
      cost_usd: fromMicroUsd(c.costMicroUsd),
      time_to_first_token_ms: { p50: c.ttftP50, p99: c.ttftP99 },
    };
  }

  return {
    /**
     * GET /v1/usage: each metric's use in the current period against the tenant's limits, and the
     * period's LLM spend against its LLM budget.
     */
    async getUsage(ctx: TenantContext, now = new Date()): Promise<UsageResponse> {
      requireScope(ctx, "usage:read");
      const { period, used } = await current(ctx.tenantId, now);
      return {
        plan: ctx.plan.id,
        period_start: period.start.toISOString(),
        period_end: period.end.toISOString(),
        metrics: metrics(ctx.plan, used),
        llm: await llm(ctx.tenantId, ctx.plan, period),
        chat: await chat(ctx.tenantId, period),
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
      const page = await store.listPeriods(ctx.tenantId, limit, before);
      const last = page.rows.at(-1);
      return {
        results: page.rows.map((r) => {
          const p = periodOf(new Date(`${r.period_start}T00:00:00Z`));
          return {
            period_start: p.start.toISOString(),
            period_end: p.end.toISOString(),
            memory_operations: Number(r.used),
          };
        }),
        next_cursor:
          page.more && last ? Buffer.from(last.period_start).toString("base64url") : null,
      };
    },

    /**
     * The current period's invoice so far: the plan price, then overage on operations beyond the
     * included amount and on stored GB beyond it (the current storage counted for the whole month).
     */
    async invoicePreview(tenantId: string, now = new Date()): Promise<InvoicePreview> {
      const tenant = isId("ten", tenantId) ? await store.findPlan(tenantId) : undefined;
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
