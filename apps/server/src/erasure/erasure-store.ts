import { randomBytes } from "node:crypto";
import type { Database, Queryable } from "../db/database.ts";
import { ERASURE_STEPS, type ErasureTarget, type Freed, userHash } from "./erasure-steps.ts";

/** A stored receipt, as the service answers it (without the user id, which is not kept). */
export interface ErasureReceipt {
  id: string;
  project_id: string;
  deleted_at: string;
  removed: Record<string, number>;
}

interface ReceiptRow {
  id: string;
  project_id: string;
  removed: Record<string, number>;
  deleted_at: Date;
}

const toReceipt = (r: ReceiptRow): ErasureReceipt => ({
  id: r.id,
  project_id: r.project_id,
  deleted_at: r.deleted_at.toISOString(),
  removed: r.removed,
});

/** The tenant's salt (made on its first erasure when `create`), or undefined when it has none. */
async function saltOf(tx: Queryable, tenantId: string, create: boolean) {
  if (create) {
    await tx.query(
      "INSERT INTO erasure_salts (tenant_id, salt) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING",
      [tenantId, randomBytes(32)],
    );
  }
  const [row] = await tx.query<{ salt: Uint8Array }>(
    "SELECT salt FROM erasure_salts WHERE tenant_id = $1",
    [tenantId],
  );
  return row?.salt;
}

/** SQL for erasures and their receipts; every method runs under the tenant's RLS. */
export function createErasureStore(db: Database) {
  return {
    /**
     * Removes the user's rows from every table (ERASURE_STEPS) and stores the receipt, in one
     * transaction; `record` runs last in it (usage gauges, audit row).
     */
    eraseUser: (
      target: ErasureTarget,
      actor: string,
      record: (
        tx: Queryable,
        erased: { removed: Record<string, number>; freed: Freed },
      ) => Promise<void>,
    ) =>
      db.withTenant(target.tenantId, async (tx) => {
        // Every write of a project's memories takes its keyword-statistics row '' first
        // (memory-terms-sql.ts); taking it first here orders the erasure against them, so a
        // write in progress commits before the erasure reads (and removes) what it wrote.
        await tx.query(
          "SELECT 1 FROM memory_term_stats WHERE tenant_id = $1 AND project_id = $2 AND lexeme = '' FOR UPDATE",
          [target.tenantId, target.projectId],
        );
        const freed: Freed = { memories: 0, bytes: 0 };
        const removed: Record<string, number> = {};
        for (const step of ERASURE_STEPS)
          Object.assign(removed, await step.erase(tx, target, freed));
        const salt = (await saltOf(tx, target.tenantId, true)) as Uint8Array;
        const [row] = await tx.query<ReceiptRow>(
          `INSERT INTO user_erasures (id, tenant_id, project_id, user_hash, removed, actor)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, project_id, removed, deleted_at`,
          [
            target.erasureId,
            target.tenantId,
            target.projectId,
            userHash(salt, target.userId),
            JSON.stringify(removed),
            actor,
          ],
        );
        await record(tx, { removed, freed });
        return toReceipt(row as ReceiptRow);
      }),

    /** One receipt of the project. */
    getErasure: (tenantId: string, projectId: string, id: string) =>
      db.withTenant(tenantId, async (tx) => {
        const [row] = await tx.query<ReceiptRow>(
          `SELECT id, project_id, removed, deleted_at FROM user_erasures
           WHERE tenant_id = $1 AND project_id = $2 AND id = $3`,
          [tenantId, projectId, id],
        );
        return row && toReceipt(row);
      }),

    /** The project's receipts for this user id, newest first, found by its salted hash. */
    listErasures: (
      tenantId: string,
      projectId: string,
      userId: string,
      limit: number,
      before: string | undefined,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        const salt = await saltOf(tx, tenantId, false);
        if (!salt) return { rows: [], more: false };
        const rows = await tx.query<ReceiptRow>(
          `SELECT id, project_id, removed, deleted_at FROM user_erasures
           WHERE tenant_id = $1 AND project_id = $2 AND user_hash = $3
             AND ($4::text IS NULL OR id < $4)
           ORDER BY id DESC LIMIT $5`,
          [tenantId, projectId, userHash(salt, userId), before ?? null, limit + 1],
        );
        return { rows: rows.slice(0, limit).map(toReceipt), more: rows.length > limit };
      }),
  };
}
export type ErasureStore = ReturnType<typeof createErasureStore>;
