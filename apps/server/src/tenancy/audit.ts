import type { Database, Queryable } from "../db/database.ts";
import { newId } from "../lib/ids.ts";

/** Audit actions; the log is append-only (the application role may only insert and read it). */
type AuditAction =
  | "tenant.create"
  | "tenant.update"
  | "tenant.plan_change"
  | "tenant.suspend"
  | "tenant.unsuspend"
  | "project.create"
  | "key.create"
  | "key.revoke"
  | "memories.bulk_delete"
  | "categories.set"
  | "users.erase"
  | "entity.delete"
  | "agent.create"
  | "agent.update"
  | "agent.delete"
  | "conversation.delete"
  | "webhook.create"
  | "webhook.update"
  | "webhook.delete";

/** One audit row as its writer gives it. */
export interface AuditEntry {
  actor: string;
  action: AuditAction;
  targetId?: string | null;
  details?: object;
}

/** Appends one audit row in the caller's transaction, so it commits with what it records. */
export async function appendAudit(
  tx: Queryable,
  tenantId: string,
  entry: AuditEntry,
): Promise<void> {
  await tx.query(
    `INSERT INTO audit_events (id, tenant_id, actor, action, target_id, details)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [
      newId("aud"),
      tenantId,
      entry.actor,
      entry.action,
      entry.targetId ?? null,
      JSON.stringify(entry.details ?? {}),
    ],
  );
}

/** SQL for reading the audit log. */
export function createAuditStore(db: Database) {
  return {
    /** A page of the tenant's audit rows, newest first. */
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
  };
}
export type AuditStore = ReturnType<typeof createAuditStore>;
