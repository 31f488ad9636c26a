import Type, { type Static } from "typebox";

/** Maximum length of any scope id (user, agent, session). */
export const SCOPE_ID_MAX = 128;

/** A scope id: user, agent or session. Free text chosen by the tenant, bounded. */
export const ScopeId = Type.String({ minLength: 1, maxLength: SCOPE_ID_MAX });

/** An ISO 8601 date-time string as returned by the API. */
export const DateTime = Type.String({ format: "date-time" });

/** A prefixed object id, e.g. `mem_01J…`. */
export const PrefixedId = (prefix: string) =>
  Type.String({ pattern: `^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$`, maxLength: 40 });

/** Keys that name JavaScript object machinery; refused in metadata so no consumer trips on them. */
export const RESERVED_METADATA_KEYS = ["__proto__", "constructor", "prototype"] as const;

/** Free-form JSON object attached to a memory. Its serialized size is bounded by the server. */
export const Metadata = Type.Record(Type.String(), Type.Unknown(), {
  maxProperties: 64,
  // A Record's key schema only becomes a pattern, so the key rules are stated here.
  propertyNames: { maxLength: 128, not: { enum: [...RESERVED_METADATA_KEYS] } },
});
export type Metadata = Static<typeof Metadata>;

/** `rerank` in a search body: false keeps the fused order even when a re-ranker is configured. */
export const RerankRequest = Type.Boolean({
  description:
    "false: keep the fused order even when the server has a re-ranker (default true; docs/reranking.md)",
});

/** Whether a search's hits are in the re-ranker's order; sent when the server has a re-ranker. */
export const RerankStatus = Type.Object(
  {
    applied: Type.Boolean({
      description:
        "The hits are in the re-ranker's order (false: fused order, asked for or after a failure)",
    }),
    model: Type.Optional(Type.String({ description: "The re-ranking model, when configured" })),
    fallback_reason: Type.Optional(
      Type.Enum(["timeout", "unavailable", "invalid_response"] as const, {
        description: "Why the re-ranker's order could not be used: the hits are in fused order",
      }),
    ),
  },
  { title: "RerankStatus" },
);
export type RerankStatus = Static<typeof RerankStatus>;

/**
 * A metadata filter (DESIGN.md §4): `{key: value}`, `{key: {op: value}}`, `and`/`or`/`not`. Its
 * shape, depth and size are checked by the server, which names the bad part (invalid_filter).
 */
export const MetadataFilter = Type.Record(Type.String(), Type.Unknown());

/**
 * The closed set of problem codes the API answers with, each with the one HTTP status it is always
 * sent with. The server takes a problem's status from here (statusOf), never separately, so a code
 * and its status cannot disagree; docs/errors.md lists the same table.
 */
const ERROR_STATUS = {
  validation_failed: 400,
  invalid_json: 400,
  invalid_filter: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  idempotency_key_reused: 422,
  method_not_allowed: 405,
  conflict: 409,
  rate_limited: 429,
  quota_exceeded: 402,
  llm_budget_exceeded: 402,
  tenant_suspended: 403,
  service_unavailable: 503,
  internal_error: 500,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

/** The closed set of problem codes the API answers with. */
export const ErrorCodes = Object.keys(ERROR_STATUS) as readonly ErrorCode[];

/** The HTTP status a problem with this code is sent with. */
export function statusOf(code: ErrorCode): number {
  return ERROR_STATUS[code];
}

/** RFC 9457 problem details, with Engram's stable `code`. */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.Enum(ErrorCodes),
    detail: Type.Optional(Type.String()),
    field: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
    metric: Type.Optional(Type.String({ description: "quota_exceeded: the limited metric" })),
    limit: Type.Optional(Type.Integer({ description: "quota_exceeded: the limit" })),
    used: Type.Optional(Type.Integer({ description: "quota_exceeded: usage before this request" })),
    period_end: Type.Optional(
      Type.String({ description: "quota_exceeded, llm_budget_exceeded: when the period resets" }),
    ),
    budget_usd: Type.Optional(
      Type.Number({ description: "llm_budget_exceeded: the period's LLM budget in USD" }),
    ),
    spent_usd: Type.Optional(
      Type.Number({ description: "llm_budget_exceeded: LLM spend this period, in USD" }),
    ),
  },
  { title: "Problem" },
);
export type Problem = Static<typeof Problem>;
