import type { Category } from "@engram/contract";
import type { Database, Queryable } from "../db/database.ts";

/** Runs in the write's transaction (the audit row), so it commits with it. */
export type CategoryWriteHook = (tx: Queryable) => Promise<void>;

/** SQL for a project's categories (migration 0015). Every statement runs under RLS. */
export function createCategoryStore(db: Database) {
  return {
    /** The project's own categories, or undefined while it uses the defaults. */
    getCategories: (tenantId: string, projectId: string) =>
      db.withTenant(tenantId, async (tx) => {
        const [row] = await tx.query<{ categories: Category[] }>(
          "SELECT categories FROM project_categories WHERE tenant_id = $1 AND project_id = $2",
          [tenantId, projectId],
        );
        return row?.categories;
      }),

    /** Replaces the project's categories; null goes back to the defaults. */
    setCategories: (
      tenantId: string,
      projectId: string,
      categories: readonly Category[] | null,
      hook?: CategoryWriteHook,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        if (categories === null) {
          await tx.query(
            "DELETE FROM project_categories WHERE tenant_id = $1 AND project_id = $2",
            [tenantId, projectId],
          );
        } else {
          await tx.query(
            `INSERT INTO project_categories (tenant_id, project_id, categories)
             VALUES ($1, $2, $3::jsonb)
             ON CONFLICT (tenant_id, project_id)
               DO UPDATE SET categories = excluded.categories, updated_at = now()`,
            [tenantId, projectId, JSON.stringify(categories)],
          );
        }
        await hook?.(tx);
      }),
  };
}
export type CategoryStore = ReturnType<typeof createCategoryStore>;
