import { readFileSync } from "node:fs";
import {
  type Plan,
  PlanIdString,
  type PlanOverrides,
  type QuotaMetric,
  QuotaMetrics,
} from "@engram/contract";
import Type, { type Static } from "typebox";
import Value from "typebox/value";

const Limit = Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]);
const Limits = Type.Object(
  Object.fromEntries(QuotaMetrics.map((m) => [m, Limit])) as Record<QuotaMetric, typeof Limit>,
  { additionalProperties: false },
);

/** The plans file (plans.default.json, or ENGRAM_PLANS_FILE): docs/plans-and-usage.md describes it. */
const PlansFile = Type.Object(
  {
    default_plan: PlanIdString,
    overage: Type.Object(
      {
        memory_operation_usd: Type.Number({ minimum: 0 }),
        storage_gb_month_usd: Type.Number({ minimum: 0 }),
      },
      { additionalProperties: false },
    ),
    plans: Type.Array(
      Type.Object(
        {
          id: PlanIdString,
          name: Type.String({ minLength: 1, maxLength: 100 }),
          price_usd_month: Type.Number({ minimum: 0 }),
          included: Limits,
          limits: Limits,
          rate_limit: Type.Union([
            Type.Object(
              {
                requests: Type.Integer({ minimum: 1 }),
                window_seconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
              },
              { additionalProperties: false },
            ),
            Type.Null(),
          ]),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 100 },
    ),
  },
  { additionalProperties: false },
);
type PlansFile = Static<typeof PlansFile>;

export const DEFAULT_PLANS_FILE = new URL("./plans.default.json", import.meta.url);

/** What a tenant may use: its plan with its overrides applied. null means unlimited. */
export interface EffectivePlan {
  id: string;
  limits: Record<QuotaMetric, number | null>;
  included: Record<QuotaMetric, number | null>;
  rateLimit: { requests: number; windowSeconds: number } | null;
}

export interface PlanCatalog {
  readonly defaultPlan: string;
  readonly overage: PlansFile["overage"];
  list(): Plan[];
  get(id: string): Plan | undefined;
  /** The plan's limits with the tenant's overrides; an unknown plan id gets the default plan's. */
  effective(planId: string, overrides: PlanOverrides): EffectivePlan;
}

export class PlansFileError extends Error {
  override name = "PlansFileError";
}

/** Reads and validates a plans file; fails naming the first bad field. */
export function loadPlans(path: string | URL = DEFAULT_PLANS_FILE): PlanCatalog {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new PlansFileError(`Cannot read the plans file ${path}: ${(err as Error).message}`);
  }
  const first = Value.Errors(PlansFile, raw)[0];
  if (first) {
    throw new PlansFileError(
      `Invalid plans file ${path}: ${first.instancePath || "/"} ${first.message}`,
    );
  }
  return createPlanCatalog(raw as PlansFile);
}

function createPlanCatalog(file: PlansFile): PlanCatalog {
  const plans = new Map(file.plans.map((p) => [p.id, p as Plan]));
  if (plans.size !== file.plans.length) throw new PlansFileError("Plan ids must be unique");
  if (!plans.has(file.default_plan)) {
    throw new PlansFileError(`default_plan "${file.default_plan}" is not one of the plans`);
  }
  return {
    defaultPlan: file.default_plan,
    overage: file.overage,
    list: () => [...plans.values()],
    get: (id) => plans.get(id),
    effective(planId, overrides) {
      const plan = plans.get(planId) ?? (plans.get(file.default_plan) as Plan);
      const limits = { ...plan.limits };
      for (const m of QuotaMetrics) {
        const o = overrides[m];
        if (o !== undefined) limits[m] = o;
      }
      let rateLimit = plan.rate_limit
        ? { requests: plan.rate_limit.requests, windowSeconds: plan.rate_limit.window_seconds }
        : null;
      if (overrides.requests_per_window !== undefined) {
        rateLimit =
          overrides.requests_per_window === null
            ? null
            : {
                requests: overrides.requests_per_window,
                windowSeconds: overrides.window_seconds ?? rateLimit?.windowSeconds ?? 3600,
              };
      } else if (overrides.window_seconds !== undefined && rateLimit) {
        rateLimit = { ...rateLimit, windowSeconds: overrides.window_seconds };
      }
      return { id: plan.id, limits, included: { ...plan.included }, rateLimit };
    },
  };
}

/** The billing period (calendar month, UTC) that contains `at`. */
export function periodOf(at: Date): { start: Date; end: Date } {
  const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
  const end = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  return { start, end };
}
