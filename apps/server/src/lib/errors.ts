import type { ErrorCode } from "@engram/contract";

const STATUS: Record<ErrorCode, number> = {
  validation_failed: 400,
  invalid_json: 400,
  invalid_filter: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  idempotency_key_reused: 422,
  llm_not_configured: 422,
  method_not_allowed: 405,
  conflict: 409,
  rate_limited: 429,
  quota_exceeded: 402,
  tenant_suspended: 403,
  service_unavailable: 503,
  internal_error: 500,
};

/** The one error type service verbs throw; the HTTP layer maps it to problem+json. */
export class AppError extends Error {
  override name = "AppError";
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
    /** Extension members of the problem (quota_exceeded: metric, limit, used, period_end). */
    readonly extra?: Record<string, string | number>,
  ) {
    super(message);
    this.status = STATUS[code];
  }
}

export const notFound = (what: string, id: string) =>
  new AppError("not_found", `${what} ${JSON.stringify(id.slice(0, 64))} was not found`);
