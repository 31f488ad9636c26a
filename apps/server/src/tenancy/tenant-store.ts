import type { PlanOverrides } from "@engram/contract";
import type { Database } from "../db/database.ts";
import { type AuditEntry, appendAudit } from "./audit.ts";
import { type AuthCache, afterChange } from "./auth-cache.ts";
import { insertKeyRow, type NewKey } from "./key-store.ts";
import { insertDefaultProject } from "./project-store.ts";

export interface TenantRow {
  id: string;
  name: string;
  plan: string;
  overrides: PlanOverrides;
  suspended_at: Date | null;
  suspended_reason: string | null;
  created_at: Date;
}

const TENANT_COLUMNS = "id, name, plan, overrides, suspended_at, suspended_reason, created_at";

/**
 * Every tenant-owned table, children first, as deleteTenant counts them. The tenant row's own
 * foreign keys cascade to all of them; the counts make the deletion receipt.
 */
const TENANT_TABLES = [
  "entity_relations",
  "memory_entities",
  "chunk_entities",
  "entity_names",
  "entities",
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
  "llm_calls",
  "audit_events",
  "api_keys",
  "project_categories",
  "memory_events",
  "user_erasures",
  "erasure_salts",
  "chat_messages",
  "conversations",
  "agents",
  "projects",
] as const;

/** SQL for tenants (the admin's side of tenancy). Every statement runs under RLS. */
export function createTenantStore(db: Database, cache?: AuthCache) {
  return {
    /** Tenant, default project, usage gauges, first key and audit row: one transaction. */
    insertTenant: (
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
        const p = await insertDefaultProject(tx, tenant.id, project.id);
        await tx.query("INSERT INTO tenant_usage (tenant_id) VALUES ($1)", [tenant.id]);
        const k = await insertKeyRow(tx, tenant.id, key);
        await appendAudit(tx, tenant.id, audit);
        return { tenant: t as TenantRow, project: p, key: k };
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
      afterChange(
        cache,
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
      ),

    /** Deletes the tenant and (by cascade) all its rows; returns the counts removed. */
    deleteTenant: (id: string) =>
      afterChange(
        cache,
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
      ),
  };
}
export type TenantStore = ReturnType<typeof createTenantStore>;
