import type { Database } from "../db/database.ts";

export interface TenantRow {
  id: string;
  name: string;
  created_at: Date;
}

export interface KeyRow {
  id: string;
  name: string | null;
  prefix: string;
  scopes: string[];
  created_at: Date;
}

/** SQL for tenants and API keys. Every statement runs under the tenant's RLS context. */
export function createTenantStore(db: Database) {
  return {
    insertTenant: (id: string, name: string) =>
      db.withTenant(id, async (tx) => {
        const [row] = await tx.query<TenantRow>(
          "INSERT INTO tenants (id, name) VALUES ($1, $2) RETURNING id, name, created_at",
          [id, name],
        );
        return row as TenantRow;
      }),

    findTenant: (id: string) =>
      db.withTenant(id, async (tx) => {
        const [row] = await tx.query<TenantRow>(
          "SELECT id, name, created_at FROM tenants WHERE id = $1",
          [id],
        );
        return row;
      }),

    insertKey: (
      tenantId: string,
      key: { id: string; name: string | null; prefix: string; hash: Buffer; scopes: string[] },
    ) =>
      db.withTenant(tenantId, async (tx) => {
        const [row] = await tx.query<KeyRow>(
          `INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, scopes)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, name, prefix, scopes, created_at`,
          [key.id, tenantId, key.name, key.prefix, key.hash, key.scopes],
        );
        return row as KeyRow;
      }),

    /** Resolves a key hash through the narrow definer function (no tenant is known yet). */
    authenticate: (hash: Buffer) =>
      db.withoutTenant(async (tx) => {
        const [row] = await tx.query<{ key_id: string; tenant_id: string; scopes: string[] }>(
          "SELECT key_id, tenant_id, scopes FROM engram_authenticate($1)",
          [hash],
        );
        return row;
      }),
  };
}
export type TenantStore = ReturnType<typeof createTenantStore>;
