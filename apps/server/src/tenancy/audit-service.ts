import type { ListAuditQuery, ListAuditResponse } from "@engram/contract";
import { decodeIdCursor, pageOf } from "../lib/cursor.ts";
import type { AuditStore } from "./audit.ts";
import { requireScope, type TenantContext } from "./context.ts";

/** Audit verbs: the tenant reads its own audit log (rows are written by the verbs they record). */
export function createAuditService(store: AuditStore) {
  return {
    /** A page of the caller's tenant's audit log, newest first. */
    async listAudit(ctx: TenantContext, input: ListAuditQuery): Promise<ListAuditResponse> {
      requireScope(ctx, "keys:manage");
      const before = decodeIdCursor(input.cursor, "aud");
      return pageOf(await store.listAudit(ctx.tenantId, input.limit ?? 20, before), (r) => ({
        ...r,
        created_at: r.created_at.toISOString(),
      }));
    },
  };
}
export type AuditService = ReturnType<typeof createAuditService>;
