import Type, { type Static } from "typebox";
import { DateTime, PrefixedId } from "./common.ts";

/** Every scope a key can carry: a resource and read or write, plus usage and key management. */
export const Scopes = [
  "memories:read",
  "memories:write",
  "knowledge:read",
  "knowledge:write",
  "agents:read",
  "agents:write",
  "conversations:read",
  "conversations:write",
  "usage:read",
  "keys:manage",
  "webhooks:read",
  "webhooks:write",
] as const;
export type Scope = (typeof Scopes)[number];

export const TenantId = PrefixedId("ten");
export const ProjectId = PrefixedId("prj");
export const KeyId = PrefixedId("key");

const Name = Type.String({ minLength: 1, maxLength: 200 });
const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/** Metrics a plan limits. */
export const QuotaMetrics = [
  "memory_operations",
  "storage_bytes",
  "active_memories",
  "projects",
  "api_keys",
  "agents",
] as const;
export type QuotaMetric = (typeof QuotaMetrics)[number];

/** A tenant's own limits, each replacing the plan's; null means unlimited. */
export const PlanOverrides = Type.Object(
  {
    memory_operations: Type.Optional(Nullable(Count)),
    storage_bytes: Type.Optional(Nullable(Count)),
    active_memories: Type.Optional(Nullable(Count)),
    projects: Type.Optional(Nullable(Count)),
    api_keys: Type.Optional(Nullable(Count)),
    agents: Type.Optional(Nullable(Count)),
    requests_per_window: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 1e9 }))),
    tenant_requests_per_window: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 1e9 }))),
    window_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
    llm_budget_usd: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 1e9 }))),
  },
  { additionalProperties: false, title: "PlanOverrides" },
);
export type PlanOverrides = Static<typeof PlanOverrides>;

export const PlanIdString = Type.String({ pattern: "^[a-z0-9_-]{1,40}$" });

export const CreateTenantBody = Type.Object(
  {
    name: Name,
    plan: Type.Optional(PlanIdString),
    overrides: Type.Optional(PlanOverrides),
  },
  { additionalProperties: false, title: "CreateTenantBody" },
);
export type CreateTenantBody = Static<typeof CreateTenantBody>;

export const Tenant = Type.Object(
  {
    id: TenantId,
    name: Type.String(),
    plan: Type.String(),
    overrides: PlanOverrides,
    suspended: Type.Boolean(),
    suspended_reason: Nullable(Type.String()),
    created_at: DateTime,
  },
  { title: "Tenant" },
);
export type Tenant = Static<typeof Tenant>;

export const UpdateTenantBody = Type.Object(
  {
    name: Type.Optional(Name),
    plan: Type.Optional(PlanIdString),
    overrides: Type.Optional(PlanOverrides),
    suspended: Type.Optional(Type.Boolean()),
    suspended_reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
  },
  { additionalProperties: false, minProperties: 1, title: "UpdateTenantBody" },
);
export type UpdateTenantBody = Static<typeof UpdateTenantBody>;

export const ListTenantsResponse = Type.Object(
  { results: Type.Array(Tenant), next_cursor: Nullable(Type.String()) },
  { title: "ListTenantsResponse" },
);
export type ListTenantsResponse = Static<typeof ListTenantsResponse>;

export const Project = Type.Object(
  { id: ProjectId, name: Type.String(), is_default: Type.Boolean(), created_at: DateTime },
  { title: "Project" },
);
export type Project = Static<typeof Project>;

export const CreateProjectBody = Type.Object(
  { name: Name },
  { additionalProperties: false, title: "CreateProjectBody" },
);
export type CreateProjectBody = Static<typeof CreateProjectBody>;

export const ListProjectsResponse = Type.Object(
  { results: Type.Array(Project) },
  { title: "ListProjectsResponse" },
);
export type ListProjectsResponse = Static<typeof ListProjectsResponse>;

export const TenantIdParams = Type.Object({ tenant_id: Type.String({ maxLength: 64 }) });
export const KeyIdParams = Type.Object({ key_id: Type.String({ maxLength: 64 }) });

export const CreateKeyBody = Type.Object(
  {
    name: Type.Optional(Name),
    scopes: Type.Optional(
      Type.Array(Type.Enum(Scopes), {
        minItems: 1,
        maxItems: Scopes.length,
        uniqueItems: true,
      }),
    ),
    project_id: Type.Optional(Type.String({ maxLength: 64 })),
    expires_at: Type.Optional(DateTime),
  },
  { additionalProperties: false, title: "CreateKeyBody" },
);
export type CreateKeyBody = Static<typeof CreateKeyBody>;

/** A key as listed: never its secret. */
export const ApiKey = Type.Object(
  {
    id: KeyId,
    name: Nullable(Type.String()),
    prefix: Type.String({ description: "The first characters of the secret, to recognise it" }),
    project_id: ProjectId,
    scopes: Type.Array(Type.String()),
    created_at: DateTime,
    expires_at: Nullable(DateTime),
    last_used_at: Nullable(DateTime),
    revoked_at: Nullable(DateTime),
  },
  { title: "ApiKey" },
);
export type ApiKey = Static<typeof ApiKey>;

export const CreatedKey = Type.Object(
  {
    ...ApiKey.properties,
    key: Type.String({ description: "The secret. Shown once; only its hash is stored." }),
  },
  { title: "CreatedKey" },
);
export type CreatedKey = Static<typeof CreatedKey>;

/** One page of a cursor-paged list: how many, and where the previous page ended. */
export const PageQuery = () =>
  Type.Object(
    {
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
      cursor: Type.Optional(Type.String({ maxLength: 64 })),
    },
    { additionalProperties: false },
  );

export const ListKeysQuery = PageQuery();
export type ListKeysQuery = Static<typeof ListKeysQuery>;

export const ListKeysResponse = Type.Object(
  { results: Type.Array(ApiKey), next_cursor: Nullable(Type.String()) },
  { title: "ListKeysResponse" },
);
export type ListKeysResponse = Static<typeof ListKeysResponse>;

/** Provisioning answer: the tenant, its default project and its first key (secret shown once). */
export const ProvisionedTenant = Type.Object(
  { ...Tenant.properties, project: Project, key: CreatedKey },
  { title: "ProvisionedTenant" },
);
export type ProvisionedTenant = Static<typeof ProvisionedTenant>;

/** What deleting a tenant removed, per kind of row. */
export const DeletionReceipt = Type.Object(
  {
    tenant_id: TenantId,
    deleted_at: DateTime,
    removed: Type.Record(Type.String(), Type.Integer()),
  },
  { title: "DeletionReceipt" },
);
export type DeletionReceipt = Static<typeof DeletionReceipt>;

export const UsageMetric = Type.Object(
  {
    metric: Type.Enum(QuotaMetrics),
    used: Type.Integer(),
    limit: Nullable(Type.Integer()),
    included: Nullable(Type.Integer()),
    percent: Nullable(Type.Number()),
  },
  { title: "UsageMetric" },
);
export type UsageMetric = Static<typeof UsageMetric>;

/** One model's share of a period's LLM calls. */
export const LlmModelUsage = Type.Object(
  {
    model: Type.String(),
    calls: Count,
    tokens_in: Count,
    tokens_out: Count,
    spend_usd: Type.Number(),
  },
  { title: "LlmModelUsage" },
);
export type LlmModelUsage = Static<typeof LlmModelUsage>;

/** The period's LLM calls (inference with an LLM) against the plan's LLM budget. */
export const LlmUsage = Type.Object(
  {
    spend_usd: Type.Number({ description: "Spent this period, in USD" }),
    budget_usd: Nullable(Type.Number({ description: "The plan's budget; null: unlimited" })),
    percent: Nullable(Type.Number()),
    exhausted: Type.Boolean({
      description: "Spend is at or past the budget: inference answers 402 llm_budget_exceeded",
    }),
    calls: Count,
    tokens_in: Count,
    tokens_out: Count,
    by_model: Type.Array(LlmModelUsage),
  },
  { title: "LlmUsage" },
);
export type LlmUsage = Static<typeof LlmUsage>;

/** The period's agent chat: answers, how many came from the cache, tokens, cost and latency. */
export const ChatUsageSummary = Type.Object(
  {
    answers: Count,
    cached: Count,
    cache_hit_rate: Nullable(Type.Number({ description: "cached / answers; null: no answer yet" })),
    fallbacks: Count,
    terminated: Count,
    tokens_in: Count,
    tokens_out: Count,
    cost_usd: Type.Number(),
    time_to_first_token_ms: Type.Object({
      p50: Nullable(Type.Number()),
      p99: Nullable(Type.Number()),
    }),
  },
  { title: "ChatUsageSummary" },
);
export type ChatUsageSummary = Static<typeof ChatUsageSummary>;

export const UsageResponse = Type.Object(
  {
    plan: Type.String(),
    period_start: DateTime,
    period_end: DateTime,
    metrics: Type.Array(UsageMetric),
    llm: LlmUsage,
    chat: ChatUsageSummary,
  },
  { title: "UsageResponse" },
);
export type UsageResponse = Static<typeof UsageResponse>;

export const UsageHistoryQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 36, default: 12 })),
    cursor: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type UsageHistoryQuery = Static<typeof UsageHistoryQuery>;

export const UsageHistoryResponse = Type.Object(
  {
    results: Type.Array(
      Type.Object({
        period_start: DateTime,
        period_end: DateTime,
        memory_operations: Type.Integer(),
      }),
    ),
    next_cursor: Nullable(Type.String()),
  },
  { title: "UsageHistoryResponse" },
);
export type UsageHistoryResponse = Static<typeof UsageHistoryResponse>;

export const InvoiceLine = Type.Object(
  {
    description: Type.String(),
    quantity: Type.Number(),
    unit_price_usd: Type.Number(),
    amount_usd: Type.Number(),
  },
  { title: "InvoiceLine" },
);

export const InvoicePreview = Type.Object(
  {
    tenant_id: TenantId,
    plan: Type.String(),
    period_start: DateTime,
    period_end: DateTime,
    lines: Type.Array(InvoiceLine),
    total_usd: Type.Number(),
  },
  { title: "InvoicePreview" },
);
export type InvoicePreview = Static<typeof InvoicePreview>;

export const AuditEvent = Type.Object(
  {
    id: PrefixedId("aud"),
    actor: Type.String({ description: '"admin" or the id of the key that acted' }),
    action: Type.String(),
    target_id: Nullable(Type.String()),
    details: Type.Record(Type.String(), Type.Unknown()),
    created_at: DateTime,
  },
  { title: "AuditEvent" },
);
export type AuditEvent = Static<typeof AuditEvent>;

export const ListAuditQuery = PageQuery();
export type ListAuditQuery = Static<typeof ListAuditQuery>;

export const ListAuditResponse = Type.Object(
  { results: Type.Array(AuditEvent), next_cursor: Nullable(Type.String()) },
  { title: "ListAuditResponse" },
);
export type ListAuditResponse = Static<typeof ListAuditResponse>;

export const PlanLimits = Type.Object({
  memory_operations: Nullable(Type.Integer()),
  storage_bytes: Nullable(Type.Integer()),
  active_memories: Nullable(Type.Integer()),
  projects: Nullable(Type.Integer()),
  api_keys: Nullable(Type.Integer()),
  agents: Nullable(Type.Integer()),
});

/** The models a plan's agents chat with (docs/agents.md), when an LLM is configured. */
export const PlanChat = Type.Object(
  {
    primary: Nullable(
      Type.String({ description: "The chat model; null: the server's ENGRAM_LLM_MODEL" }),
    ),
    fallback: Nullable(
      Type.String({
        description: "Tried when the primary fails or times out, in the same request",
      }),
    ),
    max_tokens: Type.Integer({ description: "Most tokens one answer may have" }),
    cache_ttl_seconds: Type.Integer({ description: "How long a cached answer is served" }),
    request_cost_ceiling_usd: Nullable(
      Type.Number({ description: "Most one answer may cost; the stream ends terminated there" }),
    ),
  },
  { title: "PlanChat" },
);
export type PlanChat = Static<typeof PlanChat>;

/** A plan as configured (docs/plans.md). */
export const Plan = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    price_usd_month: Type.Number(),
    included: PlanLimits,
    limits: PlanLimits,
    llm_budget_usd: Nullable(
      Type.Number({ description: "LLM spend allowed per billing period, in USD; null: unlimited" }),
    ),
    chat: PlanChat,
    rate_limit: Nullable(
      Type.Object({
        requests: Type.Integer({ description: "Per API key, per window" }),
        window_seconds: Type.Integer(),
        tenant_requests: Nullable(
          Type.Integer({ description: "For all the tenant's keys together, per window" }),
        ),
      }),
    ),
  },
  { title: "Plan" },
);
export type Plan = Static<typeof Plan>;

export const ListPlansResponse = Type.Object(
  { results: Type.Array(Plan) },
  { title: "ListPlansResponse" },
);
export type ListPlansResponse = Static<typeof ListPlansResponse>;
