import type { Database, Queryable } from "../db/database.ts";
import type { LlmCall } from "../inference/engine.ts";
import { AppError } from "../lib/errors.ts";
import { newId } from "../lib/ids.ts";
import { type EffectivePlan, periodOf } from "../plans/plans.ts";
import type { MeterContext } from "./metering.ts";

/**
 * LLM cost (docs/decisions/0026-llm-cost-and-budgets.md): every LLM call is recorded against the
 * tenant in the transaction of the write it served, and the period's spend is counted in
 * usage_counters under LLM_COST_METRIC, in integer micro-dollars, so the budget check before
 * inference reads one row.
 */
export const LLM_COST_METRIC = "llm_cost_micro_usd";

const MICRO = 1_000_000;

/** USD as integer micro-dollars, the unit costs are stored and summed in. */
export const toMicroUsd = (usd: number) => Math.round(usd * MICRO);
/** Micro-dollars back to USD. */
export const fromMicroUsd = (micro: number) => micro / MICRO;

/** What the budget check reads: the tenant and its effective plan (a TenantContext has both). */
export interface LlmBudgetSubject {
  tenantId: string;
  plan: EffectivePlan;
}

/** The period's LLM spend against the plan's budget. */
export interface LlmBudgetStatus {
  spentUsd: number;
  /** null: unlimited. */
  budgetUsd: number | null;
  /** When the period (calendar month, UTC) ends and the spend starts again from 0. */
  periodEnd: Date;
  /** Spend is at or past the budget: no more LLM inference this period. */
  exhausted: boolean;
}

/** What a tenant past its budget gets (ENGRAM_LLM_BUDGET_FALLBACK). */
export type LlmBudgetFallback = "refuse" | "local";

const nonNegativeInt = (n: number, what: string) => {
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`An LLM call's ${what} must be a non-negative number (got ${n})`);
  return Math.round(n);
};

/**
 * Records a write's LLM calls and adds their cost to the period's spend counter, in the write's
 * transaction (`tx`, the same one as its usage event): they commit or roll back together.
 * `operation` names the write as for applyUsage (e.g. "memory.add"); a call is identified by the
 * request, the operation and its position in `calls`, so recording the same calls again in the
 * same request is a no-op. Recording never refuses: the calls were made and cost what they cost;
 * the budget is checked before inference (checkLlmBudget).
 */
export async function recordLlmCalls(
  tx: Queryable,
  meter: MeterContext,
  operation: string,
  calls: readonly LlmCall[],
  now = new Date(),
): Promise<void> {
  if (calls.length === 0) return;
  const rows = calls.map((c) => ({
    id: newId("llm"),
    model: c.model,
    purpose: c.purpose,
    tokensIn: nonNegativeInt(c.tokensIn, "tokensIn"),
    tokensOut: nonNegativeInt(c.tokensOut, "tokensOut"),
    latencyMs: nonNegativeInt(c.latencyMs, "latencyMs"),
    cost: nonNegativeInt(c.costUsd * MICRO, "costUsd"),
  }));
  const inserted = await tx.query<{ cost_micro_usd: string }>(
    `INSERT INTO llm_calls (id, tenant_id, project_id, key_id, request_id, operation, seq, model,
                            purpose, tokens_in, tokens_out, latency_ms, cost_micro_usd, created_at)
     SELECT c.id, $1, $2, $3, $4, $5, c.seq - 1, c.model, c.purpose, c.tokens_in, c.tokens_out,
            c.latency_ms, c.cost, $6
     FROM unnest($7::text[], $8::text[], $9::text[], $10::int[], $11::int[], $12::int[], $13::bigint[])
          WITH ORDINALITY AS c (id, model, purpose, tokens_in, tokens_out, latency_ms, cost, seq)
     ON CONFLICT (tenant_id, request_id, operation, seq) DO NOTHING
     RETURNING cost_micro_usd`,
    [
      meter.tenantId,
      meter.projectId,
      meter.keyId,
      meter.requestId,
      operation,
      now,
      rows.map((r) => r.id),
      rows.map((r) => r.model),
      rows.map((r) => r.purpose),
      rows.map((r) => r.tokensIn),
      rows.map((r) => r.tokensOut),
      rows.map((r) => r.latencyMs),
      rows.map((r) => r.cost),
    ],
  );
  if (inserted.length === 0) return;
  const cost = inserted.reduce((sum, r) => sum + Number(r.cost_micro_usd), 0);
  await tx.query(
    `INSERT INTO usage_counters (tenant_id, period_start, metric, used) VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant_id, period_start, metric)
     DO UPDATE SET used = usage_counters.used + excluded.used`,
    [meter.tenantId, periodOf(now).start.toISOString().slice(0, 10), LLM_COST_METRIC, cost],
  );
}

/** The period's LLM spend (one counter row) against the tenant's budget. */
export async function readLlmBudget(
  tx: Queryable,
  who: LlmBudgetSubject,
  now = new Date(),
): Promise<LlmBudgetStatus> {
  const period = periodOf(now);
  const [row] = await tx.query<{ used: string }>(
    "SELECT used FROM usage_counters WHERE tenant_id = $1 AND period_start = $2 AND metric = $3",
    [who.tenantId, period.start.toISOString().slice(0, 10), LLM_COST_METRIC],
  );
  const spent = Number(row?.used ?? 0);
  const budget = who.plan.llmBudgetUsd;
  return {
    spentUsd: fromMicroUsd(spent),
    budgetUsd: budget,
    periodEnd: period.end,
    exhausted: budget !== null && spent >= toMicroUsd(budget),
  };
}

/** 402 llm_budget_exceeded for an exhausted budget: the budget, the spend and the period's end. */
function llmBudgetExceeded(status: LlmBudgetStatus): AppError {
  const end = status.periodEnd.toISOString();
  return new AppError(
    "llm_budget_exceeded",
    `The plan's LLM budget ($${status.budgetUsd}) for this period is spent ($${status.spentUsd} used) until ${end}; upgrade the plan, or add without infer`,
    undefined,
    {
      budget_usd: status.budgetUsd ?? 0,
      spent_usd: status.spentUsd,
      period_end: end,
    },
  );
}

/**
 * The check before LLM inference: "llm" while the period's spend is under the budget (or the
 * budget is unlimited); past it, throws 402 llm_budget_exceeded (`fallback` "refuse") or answers
 * "local": the caller hands the inference to the local engine.
 */
export async function checkLlmBudget(
  tx: Queryable,
  who: LlmBudgetSubject,
  fallback: LlmBudgetFallback,
  now = new Date(),
): Promise<{ engine: "llm" | "local"; budget: LlmBudgetStatus }> {
  const budget = await readLlmBudget(tx, who, now);
  if (!budget.exhausted) return { engine: "llm", budget };
  if (fallback === "refuse") throw llmBudgetExceeded(budget);
  return { engine: "local", budget };
}

/** checkLlmBudget in its own short transaction under the tenant's context, for a service to hold. */
export type LlmBudgetCheck = (
  who: LlmBudgetSubject,
  now?: Date,
) => Promise<{ engine: "llm" | "local"; budget: LlmBudgetStatus }>;

/** The budget check a service is given (server.ts: the database and ENGRAM_LLM_BUDGET_FALLBACK). */
export function createLlmBudgetCheck(db: Database, fallback: LlmBudgetFallback): LlmBudgetCheck {
  return (who, now) => db.withTenant(who.tenantId, (tx) => checkLlmBudget(tx, who, fallback, now));
}
