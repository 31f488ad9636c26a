import type { PlanOverrides } from "@engram/contract";
import type { Database, Queryable } from "../db/database.ts";
import { type AuditEntry, appendAudit } from "./audit.ts";
import { type AuthCache, afterChange } from "./auth-cache.ts";

export interface KeyRow {
  id: string;
  name: string | null;
  prefix: string;
  project_id: string;
  scopes: string[];
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export interface NewKey {
  id: string;
  name: string | null;
  prefix: string;
  hash: Buffer;
  projectId: string;
  scopes: string[];
  expiresAt: string | null;
}

export interface AuthRow {
  key_id: string;
  tenant_id: string;
  project_id: string;
  scopes: string[];
  expires_at: Date | null;
  last_used_at: Date | null;
  plan: string;
  overrides: PlanOverrides;
  suspended_at: Date | null;
  suspended_reason: string | null;
}

const KEY_COLUMNS =
  "id, name, prefix, project_id, scopes, created_at, expires_at, last_used_at, revoked_at";

/** Inserts a key row in the caller's transaction (a tenant's first key commits with the tenant). */
export async function insertKeyRow(tx: Queryable, tenantId: string, key: NewKey): Promise<KeyRow> {
  const [row] = await tx.query<KeyRow>(
    `INSERT INTO api_keys (id, tenant_id, project_id, name, prefix, key_hash, scopes, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${KEY_COLUMNS}`,
    [key.id, tenantId, key.projectId, key.name, key.prefix, key.hash, key.scopes, key.expiresAt],
  );
  return row as KeyRow;
}

/** Keys that authenticate now: neither revoked nor expired (what the plan's api_keys limit counts). */
async function countActiveKeys(tx: Queryable, tenantId: string): Promise<number> {
  const [c] = await tx.query<{ n: string }>(
    `SELECT count(*) AS n FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL
       AND (expires_at IS NULL OR expires_at > now())`,
    [tenantId],
  );
  return Number(c?.n ?? 0);
}

/** What insertKey did: refused at the plan's limit of active keys, or created. */
type KeyCreation = { status: "exceeded"; count: number } | { status: "created"; row: KeyRow };

/**
 * SQL for API keys: creation within the plan's limit, listing, revocation, authentication.
 * `cache` (embedded mode) remembers lookups; a revocation clears it once committed.
 */
export function createKeyStore(db: Database, cache?: AuthCache) {
  return {
    /**
     * Creates a key unless the tenant already has `limit` active keys (null: unlimited). The
     * tenant row lock serialises concurrent creations, so none races past the limit.
     */
    insertKey: (tenantId: string, key: NewKey, limit: number | null, audit: AuditEntry) =>
      db.withTenant(tenantId, async (tx): Promise<KeyCreation> => {
        if (limit !== null) {
          await tx.query("SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE", [tenantId]);
          const count = await countActiveKeys(tx, tenantId);
          if (count >= limit) return { status: "exceeded", count };
        }
        const row = await insertKeyRow(tx, tenantId, key);
        await appendAudit(tx, tenantId, { ...audit, targetId: row.id });
        return { status: "created", row };
      }),

    listKeys: (tenantId: string, limit: number, before: string | undefined) =>
      db.withTenant(tenantId, async (tx) => {
        const rows = await tx.query<KeyRow>(
          `SELECT ${KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND ($2::text IS NULL OR id < $2)
           ORDER BY id DESC LIMIT $3`,
          [tenantId, before ?? null, limit + 1],
        );
        return { rows: rows.slice(0, limit), more: rows.length > limit };
      }),

    /**
     * Revokes a key (idempotently); undefined when the tenant has no such key. `allow` sees the
     * key first (under its row lock) and may throw to refuse: nothing is then changed.
     */
    revokeKey: (tenantId: string, keyId: string, allow: (key: KeyRow) => void, audit: AuditEntry) =>
      afterChange(
        cache,
        db.withTenant(tenantId, async (tx) => {
          const [found] = await tx.query<KeyRow>(
            `SELECT ${KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
            [tenantId, keyId],
          );
          if (!found) return undefined;
          allow(found);
          const [row] = await tx.query<KeyRow>(
            `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
           WHERE tenant_id = $1 AND id = $2 RETURNING ${KEY_COLUMNS}`,
            [tenantId, keyId],
          );
          await appendAudit(tx, tenantId, { ...audit, targetId: keyId });
          return row;
        }),
      ),

    /** Records that a key was used (the caller throttles this to about once a minute). */
    touchKey: (tenantId: string, keyId: string) =>
      db.withTenant(tenantId, (tx) =>
        tx.query("UPDATE api_keys SET last_used_at = now() WHERE tenant_id = $1 AND id = $2", [
          tenantId,
          keyId,
        ]),
      ),

    /**
     * Resolves a key hash through the narrow definer function (no tenant is known yet), as one
     * statement: the lookup every request makes costs one round trip.
     */
    authenticate(hash: Buffer) {
      const load = async () => {
        const [row] = await db.readWithoutTenant<AuthRow>(
          `SELECT key_id, tenant_id, project_id, scopes, expires_at, last_used_at, plan, overrides,
                  suspended_at, suspended_reason
           FROM engram_authenticate($1)`,
          [hash],
        );
        return row;
      };
      return cache ? cache.lookup(hash.toString("base64"), load) : load();
    },
  };
}
export type KeyStore = ReturnType<typeof createKeyStore>;
