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

/** RFC 9457 problem details, with Engram's stable `code`. */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String(),
    detail: Type.Optional(Type.String()),
    field: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
    metric: Type.Optional(Type.String({ description: "quota_exceeded: the limited metric" })),
    limit: Type.Optional(Type.Integer({ description: "quota_exceeded: the limit" })),
    used: Type.Optional(Type.Integer({ description: "quota_exceeded: usage before this request" })),
    period_end: Type.Optional(
      Type.String({ description: "quota_exceeded: when the period resets" }),
    ),
  },
  { title: "Problem" },
);
export type Problem = Static<typeof Problem>;

/** The closed set of problem codes the API answers with. */
export const ErrorCodes = [
  "validation_failed",
  "invalid_json",
  "invalid_filter",
  "payload_too_large",
  "unsupported_media_type",
  "unauthenticated",
  "forbidden",
  "not_found",
  "idempotency_key_reused",
  "llm_not_configured",
  "method_not_allowed",
  "conflict",
  "rate_limited",
  "quota_exceeded",
  "tenant_suspended",
  "service_unavailable",
  "internal_error",
] as const;
export type ErrorCode = (typeof ErrorCodes)[number];
