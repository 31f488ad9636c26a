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
// api_keys came later: a plans file written before it still loads (omitted: see normalise()).
const Limits = Type.Object(
  {
    memory_operations: Limit,
    storage_bytes: Limit,
    active_memories: Limit,
    projects: Limit,
    api_keys: Type.Optional(Limit),
    // Came with agents: a file written before it still loads (unlimited).
    agents: Type.Optional(Limit),
  },
  { additionalProperties: false },
);

const ChatModels = Type.Object(
  {
    primary: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()]),
    ),
    fallback: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()]),
    ),
    max_tokens: Type.Optional(Type.Integer({ minimum: 16, maximum: 32_000 })),
    cache_ttl_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86_400 })),
    request_cost_ceiling_usd: Type.Optional(Type.Union([Type.Number({ minimum: 0 }), Type.Null()])),
  },
  { additionalProperties: false },
);

/** What a plan without a `chat` section (or a field of it) gets. */
const CHAT_DEFAULTS: Plan["chat"] = {
  primary: null,
  fallback: null,
  max_tokens: 512,
  cache_ttl_seconds: 86_400,
  request_cost_ceiling_usd: null,
};

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
          // Came with LLM inference: a file written before it still loads (unlimited).
          llm_budget_usd: Type.Optional(Type.Union([Type.Number({ minimum: 0 }), Type.Null()])),
          chat: Type.Optional(ChatModels),
          rate_limit: Type.Union([
            Type.Object(
              {
                requests: Type.Integer({ minimum: 1 }),
                window_seconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
                tenant_requests: Type.Optional(
                  Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
                ),
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
type FilePlan = PlansFile["plans"][number];

/** A plans file that omits a rate limit's tenant_requests gets this multiple of `requests`. */
const TENANT_REQUESTS_MULTIPLE = 10;

/**
 * Fills what a plans file may omit: `api_keys` (unlimited; `included` defaults to the limit, as
 * keys are not billed), `llm_budget_usd` (unlimited) and `tenant_requests`
 * (TENANT_REQUESTS_MULTIPLE × `requests`), so a file written before these fields keeps loading and
 * every tenant still gets a tenant-wide bucket.
 */
function normalise(p: FilePlan): Plan {
  const apiKeys = p.limits.api_keys ?? null;
  const agents = p.limits.agents ?? null;
  return {
    ...p,
    included: {
      ...p.included,
      api_keys: p.included.api_keys ?? apiKeys,
      agents: p.included.agents ?? agents,
    },
    limits: { ...p.limits, api_keys: apiKeys, agents },
    llm_budget_usd: p.llm_budget_usd ?? null,
    chat: { ...CHAT_DEFAULTS, ...p.chat },
    rate_limit: p.rate_limit && {
      ...p.rate_limit,
      tenant_requests:
        p.rate_limit.tenant_requests === undefined
          ? p.rate_limit.requests * TENANT_REQUESTS_MULTIPLE
          : p.rate_limit.tenant_requests,
    },
  };
}

export const DEFAULT_PLANS_FILE = new URL("./plans.default.json", import.meta.url);

/** What a tenant may use: its plan with its overrides applied. null means unlimited. */
export interface EffectivePlan {
  id: string;
  limits: Record<QuotaMetric, number | null>;
  included: Record<QuotaMetric, number | null>;
  /** LLM spend allowed per billing period, in USD (null: unlimited). */
  llmBudgetUsd: number | null;
  /** The models its agents chat with, and their limits (when an LLM is configured). */
  chat: Plan["chat"];
  /** Requests per window for each key and, when not null, for all the tenant's keys together. */
  rateLimit: { requests: number; tenantRequests: number | null; windowSeconds: number } | null;
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
  const plans = new Map(file.plans.map((p) => [p.id, normalise(p)]));
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
      return {
        id: plan.id,
        limits,
        included: { ...plan.included },
        llmBudgetUsd:
          overrides.llm_budget_usd === undefined ? plan.llm_budget_usd : overrides.llm_budget_usd,
        chat: plan.chat,
        rateLimit: effectiveRateLimit(plan, overrides),
      };
    },
  };
}

/**
 * The plan's rate limit with the tenant's overrides. Overriding the per-key quota alone scales the
 * tenant-wide one by the same factor (a raise for a key is not eaten by the tenant bucket);
 * `tenant_requests_per_window` sets it outright (null: no tenant-wide bucket).
 */
function effectiveRateLimit(plan: Plan, overrides: PlanOverrides): EffectivePlan["rateLimit"] {
  const base = plan.rate_limit;
  let rateLimit = base
    ? {
        requests: base.requests,
        tenantRequests: base.tenant_requests,
        windowSeconds: base.window_seconds,
      }
    : null;
  const perKey = overrides.requests_per_window;
  if (perKey === null) return null;
  if (perKey !== undefined) {
    const ratio = base
      ? base.tenant_requests === null
        ? null
        : base.tenant_requests / base.requests
      : TENANT_REQUESTS_MULTIPLE;
    rateLimit = {
      requests: perKey,
      tenantRequests: ratio === null ? null : Math.max(1, Math.ceil(perKey * ratio)),
      windowSeconds: overrides.window_seconds ?? rateLimit?.windowSeconds ?? 3600,
    };
  } else if (overrides.window_seconds !== undefined && rateLimit) {
    rateLimit = { ...rateLimit, windowSeconds: overrides.window_seconds };
  }
  if (rateLimit && overrides.tenant_requests_per_window !== undefined) {
    rateLimit = { ...rateLimit, tenantRequests: overrides.tenant_requests_per_window };
  }
  return rateLimit;
}

/** The billing period (calendar month, UTC) that contains `at`. */
export function periodOf(at: Date): { start: Date; end: Date } {
  const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
  const end = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  return { start, end };
}
