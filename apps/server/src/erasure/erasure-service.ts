import type {
  ListUserErasuresQuery,
  ListUserErasuresResponse,
  UserErasure,
} from "@engram/contract";
import type { MemoryCache } from "../cache/memory-cache.ts";
import { decodeIdCursor, pageOf } from "../lib/cursor.ts";
import { notFound } from "../lib/errors.ts";
import { isId, newId } from "../lib/ids.ts";
import { appendAudit } from "../tenancy/audit.ts";
import { actorName, requireScope, type TenantContext } from "../tenancy/context.ts";
import { usageHook } from "../usage/metering.ts";
import type { ErasureReceipt, ErasureStore } from "./erasure-store.ts";

const withUser = (r: ErasureReceipt, userId: string | null): UserErasure => ({
  ...r,
  user_id: userId,
});

/** Erasure of an end user (ADR 0030) and its receipts. */
export function createErasureService(deps: {
  store: ErasureStore;
  /** The hot-memory cache: it must not serve an erased memory afterwards. */
  cache: MemoryCache;
  /** Quotas and metering (ENGRAM_METERING): the freed memories and bytes leave the gauges. */
  metering?: boolean;
}) {
  const { store, cache } = deps;
  return {
    /**
     * Removes everything stored for the user in the caller's project (memories, history, events,
     * documents, Idempotency-Key answers) in one transaction and returns the receipt. Needs both
     * write scopes, whatever the user has: an erasure is complete or refused, never partial, and
     * the answer never depends on what is stored. An unknown user gets a receipt of zeros.
     */
    async eraseUser(ctx: TenantContext, userId: string): Promise<UserErasure> {
      requireScope(ctx, "memories:write");
      requireScope(ctx, "knowledge:write");
      const meter = deps.metering === false ? undefined : usageHook(ctx, "user.erase");
      const erasureId = newId("ers");
      const receipt = await store.eraseUser(
        { tenantId: ctx.tenantId, projectId: ctx.projectId, userId, erasureId },
        actorName(ctx.actor),
        async (tx, { removed, freed }) => {
          await meter?.(tx, { ops: 0, memories: -freed.memories, bytes: -freed.bytes });
          await appendAudit(tx, ctx.tenantId, {
            actor: actorName(ctx.actor),
            action: "users.erase",
            targetId: erasureId,
            details: { project_id: ctx.projectId, removed },
          });
        },
      );
      // After the commit, before answering: no process serves an erased memory from its cache.
      await cache.invalidateTenant(ctx.tenantId);
      return withUser(receipt, userId);
    },

    /** One receipt of the caller's project, by its id; the user id is not kept (null). */
    async getErasure(ctx: TenantContext, id: string): Promise<UserErasure> {
      requireScope(ctx, "memories:read");
      const receipt = isId("ers", id)
        ? await store.getErasure(ctx.tenantId, ctx.projectId, id)
        : undefined;
      if (!receipt) throw notFound("Erasure", id);
      return withUser(receipt, null);
    },

    /** The receipts of the erasures of this user id in the caller's project, newest first. */
    async listUserErasures(
      ctx: TenantContext,
      userId: string,
      input: ListUserErasuresQuery,
    ): Promise<ListUserErasuresResponse> {
      requireScope(ctx, "memories:read");
      const page = await store.listErasures(
        ctx.tenantId,
        ctx.projectId,
        userId,
        input.limit ?? 20,
        decodeIdCursor(input.cursor, "ers"),
      );
      return pageOf(page, (r) => withUser(r, userId));
    },
  };
}
export type ErasureService = ReturnType<typeof createErasureService>;
