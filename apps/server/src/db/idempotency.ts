import { createHash } from "node:crypto";
import { AppError } from "../lib/errors.ts";
import type { Queryable } from "./database.ts";

/** A client's Idempotency-Key with a fingerprint of the request it came with. */
export interface IdempotencyRequest {
  key: string;
  requestHash: Buffer;
}

export function idempotencyRequest(key: string, route: string, body: unknown): IdempotencyRequest {
  const requestHash = createHash("sha256")
    .update(route)
    .update("\0")
    .update(JSON.stringify(body))
    .digest();
  return { key, requestHash };
}

/** Thrown inside the write transaction when a concurrent request with the same key won: roll back and replay. */
export class IdempotencyRace extends Error {
  override name = "IdempotencyRace";
}

/** The stored response for this key, if a request with it already completed. */
export async function findIdempotentResponse(
  tx: Queryable,
  tenantId: string,
  req: IdempotencyRequest,
): Promise<unknown | undefined> {
  const [row] = await tx.query<{ request_hash: Uint8Array; response: unknown }>(
    "SELECT request_hash, response FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
    [tenantId, req.key],
  );
  if (!row) return undefined;
  if (!Buffer.from(row.request_hash).equals(req.requestHash)) {
    throw new AppError(
      "idempotency_key_reused",
      "This Idempotency-Key was already used with a different request",
      "Idempotency-Key",
    );
  }
  return row.response;
}

/**
 * Records the response in the same transaction as the write it describes. Returns false when a
 * concurrent request with the same key committed first (the caller rolls back and replays).
 */
export async function saveIdempotentResponse(
  tx: Queryable,
  tenantId: string,
  req: IdempotencyRequest,
  status: number,
  response: unknown,
): Promise<boolean> {
  const rows = await tx.query(
    `INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, response)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING key`,
    [tenantId, req.key, req.requestHash, status, JSON.stringify(response)],
  );
  return rows.length === 1;
}
