import type { Queryable } from "../db/database.ts";
import { newId } from "../lib/ids.ts";

/** Audit actions; the log is append-only (the application role may only insert and read it). */
export type AuditAction =
  | "tenant.create"
  | "tenant.update"
  | "tenant.plan_change"
  | "tenant.suspend"
  | "tenant.unsuspend"
  | "project.create"
  | "key.create"
  | "key.revoke"
  | "memories.bulk_delete";

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
