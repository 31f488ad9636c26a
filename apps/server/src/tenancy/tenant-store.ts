import type { PlanOverrides } from "@engram/contract";
import type { Database, Queryable } from "../db/database.ts";
import { type AuditEntry, appendAudit } from "./audit.ts";

export interface TenantRow {
  id: string;
  name: string;
  plan: string;
  overrides: PlanOverrides;
  suspended_at: Date | null;
  suspended_reason: string | null;
  created_at: Date;
}

export interface ProjectRow {
  id: string;
  name: string;
  is_default: boolean;
  created_at: Date;
}

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

const TENANT_COLUMNS = "id, name, plan, overrides, suspended_at, suspended_reason, created_at";
const KEY_COLUMNS =
  "id, name, prefix, project_id, scopes, created_at, expires_at, last_used_at, revoked_at";
const PROJECT_COLUMNS = "id, name, is_default, created_at";

/**
 * Every tenant-owned table, children first, as deleteTenant counts them. The tenant row's own
 * foreign keys cascade to all of them; the counts make the deletion receipt.
 */
const TENANT_TABLES = [
  "knowledge_chunks",
  "ingest_jobs",
  "document_contents",
  "documents",
  "memories",
  "memory_history",
  "memory_terms",
  "memory_term_stats",
  "idempotency_keys",
  "usage_events",
  "usage_counters",
  "audit_events",
  "api_keys",
  "projects",
] as const;

async function insertKeyRow(tx: Queryable, tenantId: string, key: NewKey): Promise<KeyRow> {
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

/** SQL for tenants, projects, keys and the audit log. Every statement runs under RLS. */
export function createTenantStore(db: Database) {
  return {
    /** Tenant, default project, usage gauges, first key and audit row: one transaction. */
    provisionTenant: (
      tenant: { id: string; name: string; plan: string; overrides: PlanOverrides },
      project: { id: string },
      key: NewKey,
      audit: AuditEntry,
    ) =>
      db.withTenant(tenant.id, async (tx) => {
        const [t] = await tx.query<TenantRow>(
          `INSERT INTO tenants (id, name, plan, overrides) VALUES ($1, $2, $3, $4)
           RETURNING ${TENANT_COLUMNS}`,
          [tenant.id, tenant.name, tenant.plan, JSON.stringify(tenant.overrides)],
        );
        const [p] = await tx.query<ProjectRow>(
          `INSERT INTO projects (id, tenant_id, name, is_default) VALUES ($1, $2, 'default', true)
           RETURNING ${PROJECT_COLUMNS}`,
          [project.id, tenant.id],
        );
        await tx.query("INSERT INTO tenant_usage (tenant_id) VALUES ($1)", [tenant.id]);
        const k = await insertKeyRow(tx, tenant.id, key);
        await appendAudit(tx, tenant.id, audit);
        return { tenant: t as TenantRow, project: p as ProjectRow, key: k };
      }),

    /** A page of every tenant, newest first (admin), through the narrow definer function. */
    listTenants: (limit: number, before: string | undefined) =>
      db.withoutTenant(async (tx) => {
        const rows = await tx.query<TenantRow>(
          `SELECT ${TENANT_COLUMNS} FROM engram_list_tenants($1, $2)`,
          [before ?? null, limit + 1],
        );
        return { rows: rows.slice(0, limit), more: rows.length > limit };
      }),

    findTenant: (id: string) =>
      db.withTenant(id, async (tx) => {
        const [row] = await tx.query<TenantRow>(
          `SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = $1`,
          [id],
        );
        return row;
      }),

    /** Applies a change to the tenant row under its lock; `change` returns the audit rows. */
    updateTenant: (
      id: string,
      change: (old: TenantRow) => { set: Partial<TenantRow>; audit: AuditEntry[] },
    ) =>
      db.withTenant(id, async (tx) => {
        const [old] = await tx.query<TenantRow>(
          // NO KEY UPDATE: concurrent inserts that reference the tenant (memories, usage) go on.
          `SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = $1 FOR NO KEY UPDATE`,
          [id],
        );
        if (!old) return undefined;
        const { set, audit } = change(old);
        const next = { ...old, ...set };
        const [row] = await tx.query<TenantRow>(
          `UPDATE tenants SET name = $2, plan = $3, overrides = $4, suspended_at = $5,
             suspended_reason = $6 WHERE id = $1 RETURNING ${TENANT_COLUMNS}`,
          [
            id,
            next.name,
            next.plan,
            JSON.stringify(next.overrides),
            next.suspended_at,
            next.suspended_reason,
          ],
        );
        for (const entry of audit) await appendAudit(tx, id, entry);
        return row as TenantRow;
      }),

    /** Deletes the tenant and (by cascade) all its rows; returns the counts removed. */
    deleteTenant: (id: string) =>
      db.withTenant(id, async (tx) => {
        const [t] = await tx.query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE", [id]);
        if (!t) return undefined;
        const removed: Record<string, number> = {};
        for (const table of TENANT_TABLES) {
          const [c] = await tx.query<{ n: string }>(
            `SELECT count(*) AS n FROM ${table} WHERE tenant_id = $1`,
            [id],
          );
          removed[table] = Number(c?.n ?? 0);
        }
        await tx.query("DELETE FROM tenants WHERE id = $1", [id]);
        removed.tenants = 1;
        const [receipt] = await tx.query<{ deleted_at: Date }>(
          "INSERT INTO tenant_deletions (tenant_id, receipt) VALUES ($1, $2) RETURNING deleted_at",
          [id, JSON.stringify(removed)],
        );
        return { removed, deletedAt: (receipt as { deleted_at: Date }).deleted_at };
      }),

    findProject: (tenantId: string, projectId: string) =>
      db.withTenant(tenantId, async (tx) => {
        const [row] = await tx.query<ProjectRow>(
          `SELECT ${PROJECT_COLUMNS} FROM projects WHERE tenant_id = $1 AND id = $2`,
          [tenantId, projectId],
        );
        return row;
      }),

    listProjects: (tenantId: string) =>
      db.withTenant(tenantId, (tx) =>
        tx.query<ProjectRow>(
          `SELECT ${PROJECT_COLUMNS} FROM projects WHERE tenant_id = $1 ORDER BY id`,
          [tenantId],
        ),
      ),

    /**
     * Creates a project unless the tenant already has `limit` (null: unlimited). The tenant row
     * lock serialises concurrent creations, so the count cannot be raced past the limit.
     */
    createProject: (
      tenantId: string,
      project: { id: string; name: string },
      limit: number | null,
      audit: AuditEntry,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        await tx.query("SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE", [tenantId]);
        const [c] = await tx.query<{ n: string }>(
          "SELECT count(*) AS n FROM projects WHERE tenant_id = $1",
          [tenantId],
        );
        const count = Number(c?.n ?? 0);
        if (limit !== null && count >= limit) return { exceeded: true as const, count };
        const [row] = await tx.query<ProjectRow>(
          `INSERT INTO projects (id, tenant_id, name) VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id, name) DO NOTHING RETURNING ${PROJECT_COLUMNS}`,
          [project.id, tenantId, project.name],
        );
        if (row) await appendAudit(tx, tenantId, { ...audit, targetId: row.id });
        return { exceeded: false as const, row };
      }),

    /**
     * Creates a key unless the tenant already has `limit` active keys (null: unlimited). As for
     * projects, the tenant row lock serialises concurrent creations, so none races past the limit.
     */
    insertKey: (tenantId: string, key: NewKey, limit: number | null, audit: AuditEntry) =>
      db.withTenant(tenantId, async (tx) => {
        if (limit !== null) {
          await tx.query("SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE", [tenantId]);
          const count = await countActiveKeys(tx, tenantId);
          if (count >= limit) return { exceeded: true as const, count };
        }
        const row = await insertKeyRow(tx, tenantId, key);
        await appendAudit(tx, tenantId, { ...audit, targetId: row.id });
        return { exceeded: false as const, row };
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

    /** Records that a key was used (the caller throttles this to about once a minute). */
    touchKey: (tenantId: string, keyId: string) =>
      db.withTenant(tenantId, (tx) =>
        tx.query("UPDATE api_keys SET last_used_at = now() WHERE tenant_id = $1 AND id = $2", [
          tenantId,
          keyId,
        ]),
      ),

    /** Resolves a key hash through the narrow definer function (no tenant is known yet). */
    authenticate: (hash: Buffer) =>
      db.withoutTenant(async (tx) => {
        const [row] = await tx.query<AuthRow>(
          `SELECT key_id, tenant_id, project_id, scopes, expires_at, last_used_at, plan, overrides,
                  suspended_at, suspended_reason
           FROM engram_authenticate($1)`,
          [hash],
        );
        return row;
      }),

    listAudit: (tenantId: string, limit: number, before: string | undefined) =>
      db.withTenant(tenantId, async (tx) => {
        const rows = await tx.query<{
          id: string;
          actor: string;
          action: string;
          target_id: string | null;
          details: Record<string, unknown>;
          created_at: Date;
        }>(
          `SELECT id, actor, action, target_id, details, created_at FROM audit_events
           WHERE tenant_id = $1 AND ($2::text IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
          [tenantId, before ?? null, limit + 1],
        );
        return { rows: rows.slice(0, limit), more: rows.length > limit };
      }),

    /** Appends an audit row on its own (for events recorded outside a store transaction). */
    audit: (tenantId: string, entry: AuditEntry) =>
      db.withTenant(tenantId, (tx) => appendAudit(tx, tenantId, entry)),
  };
}
export type TenantStore = ReturnType<typeof createTenantStore>;
