import { Problem } from "@engram/contract";
import type { FastifyRequest } from "fastify";
import { type IdempotencyKey, idempotencyRequest } from "../db/idempotency.ts";
import { AppError } from "../lib/errors.ts";

const IDEMPOTENCY_KEY_MAX = 255;

/** Error responses every route can give, for the OpenAPI document. */
export const problemResponses = {
  "4XX": { ...Problem, description: "Problem details (application/problem+json)" },
  "5XX": { ...Problem, description: "Problem details (application/problem+json)" },
};

/**
 * The Idempotency-Key of a create request, fingerprinted with its route and body (or, for a body
 * that is not JSON, such as a multipart upload, with what the route makes of it).
 */
export function idempotencyOf(
  request: FastifyRequest,
  body: unknown = request.body,
): IdempotencyKey | undefined {
  const key = request.headers["idempotency-key"];
  if (key === undefined) return undefined;
  if (typeof key !== "string" || key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX) {
    throw new AppError(
      "validation_failed",
      `Idempotency-Key must be 1 to ${IDEMPOTENCY_KEY_MAX} characters`,
      "Idempotency-Key",
    );
  }
  return idempotencyRequest(key, request.routeOptions.url ?? request.url, body);
}
