import { type ErrorCode, statusOf } from "@engram/contract";

/** The one error type service verbs throw; the HTTP layer maps it to problem+json. */
export class AppError extends Error {
  override name = "AppError";
  /** From the contract's one code-to-status table. */
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
    /** Extension members of the problem (quota_exceeded: metric, limit, used, period_end). */
    readonly extra?: Record<string, string | number>,
  ) {
    super(message);
    this.status = statusOf(code);
  }
}

export const notFound = (what: string, id: string) =>
  new AppError("not_found", `${what} ${JSON.stringify(id.slice(0, 64))} was not found`);
