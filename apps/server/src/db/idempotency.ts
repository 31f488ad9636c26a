import { createHash } from "node:crypto";
import { AppError } from "../lib/errors.ts";
import type { Queryable } from "./database.ts";

/** A client's Idempotency-Key with a fingerprint of the request it came with. */
export interface IdempotencyKey {
  key: string;
  requestHash: Buffer;
}

/** A key as the store checks it: a record older than maxAgeS seconds counts as absent. */
export interface IdempotencyRequest extends IdempotencyKey {
  maxAgeS: number;
}

export function idempotencyRequest(key: string, route: string, body: unknown): IdempotencyKey {
  const requestHash = createHash("sha256")
    .update(route)
    .update("\0")
    .update(JSON.stringify(body))
    .digest();
  return { key, requestHash };
}

/** The groups of routes whose Idempotency-Keys are remembered apart from each other. */
export type IdempotencyFamily = "memories" | "documents";

/**
 * A client's key as it is stored and looked up: `<route family>:<project>:<client key>`. Keys are
 * the client's to choose, so without the project one project could block (422) another's keys,
 * and without the family a memory write and an upload could collide. Every caller stores its
 * keys through this one function.
 */
export function scopedIdempotency(
  key: IdempotencyKey,
  family: IdempotencyFamily,
  projectId: string,
  maxAgeS: number,
): IdempotencyRequest {
  return { key: `${family}:${projectId}:${key.key}`, requestHash: key.requestHash, maxAgeS };
}

/** Thrown inside the write transaction when a concurrent request with the same key won: roll back and replay. */
export class IdempotencyRace extends Error {
  override name = "IdempotencyRace";
}

/**
 * The stored response for this key, if a request with it completed within the key's lifetime.
 * An expired record the worker has not deleted yet counts as absent, so expiry never depends on
 * when the worker runs.
 */
export async function findIdempotentResponse(
  tx: Queryable,
  tenantId: string,
  req: IdempotencyRequest,
): Promise<unknown | undefined> {
  const [row] = await tx.query<{ request_hash: Uint8Array; response: unknown }>(
    `SELECT request_hash, response FROM idempotency_keys
     WHERE tenant_id = $1 AND key = $2 AND created_at >= now() - make_interval(secs => $3)`,
    [tenantId, req.key, req.maxAgeS],
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
 * Records the response in the same transaction as the write it describes, replacing an expired
 * record of the same key. Returns false when a concurrent request with the same key committed
 * first (the caller rolls back and replays).
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
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (tenant_id, key) DO UPDATE
       SET request_hash = EXCLUDED.request_hash, status = EXCLUDED.status,
           response = EXCLUDED.response, created_at = EXCLUDED.created_at
       WHERE idempotency_keys.created_at < now() - make_interval(secs => $6)
     RETURNING key`,
    [tenantId, req.key, req.requestHash, status, JSON.stringify(response), req.maxAgeS],
  );
  return rows.length === 1;
}

/**
 * Deletes up to `limit` records older than maxAgeS seconds, across tenants, through the one
 * definer function that may (the application role sees rows only under a tenant context).
 * Returns how many it deleted.
 */
export async function expireIdempotencyKeys(
  tx: Queryable,
  maxAgeS: number,
  limit: number,
): Promise<number> {
  const [row] = await tx.query<{ deleted: number }>(
    "SELECT engram_expire_idempotency_keys($1, $2) AS deleted",
    [maxAgeS, limit],
  );
  return row?.deleted ?? 0;
}
