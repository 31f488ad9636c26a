import type { Database, Queryable } from "../db/database.ts";
import { type AuditEntry, appendAudit } from "./audit.ts";

export interface ProjectRow {
  id: string;
  name: string;
  is_default: boolean;
  created_at: Date;
}

const PROJECT_COLUMNS = "id, name, is_default, created_at";

/** Inserts a tenant's default project in the caller's transaction (it commits with the tenant). */
export async function insertDefaultProject(
  tx: Queryable,
  tenantId: string,
  projectId: string,
): Promise<ProjectRow> {
  const [row] = await tx.query<ProjectRow>(
    `INSERT INTO projects (id, tenant_id, name, is_default) VALUES ($1, $2, 'default', true)
     RETURNING ${PROJECT_COLUMNS}`,
    [projectId, tenantId],
  );
  return row as ProjectRow;
}

/** What createProject did: refused at the plan's limit, refused for a taken name, or created. */
type ProjectCreation =
  | { status: "exceeded"; count: number }
  | { status: "duplicate" }
  | { status: "created"; row: ProjectRow };

/** SQL for a tenant's projects. */
export function createProjectStore(db: Database) {
  return {
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
     * Creates a project unless the tenant already has `limit` (null: unlimited) or one of that
     * name. The tenant row lock serialises concurrent creations, so the count cannot be raced past
     * the limit; the name's unique index settles a race on the name (ON CONFLICT, not an error).
     */
    createProject: (
      tenantId: string,
      project: { id: string; name: string },
      limit: number | null,
      audit: AuditEntry,
    ) =>
      db.withTenant(tenantId, async (tx): Promise<ProjectCreation> => {
        await tx.query("SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE", [tenantId]);
        const [c] = await tx.query<{ n: string }>(
          "SELECT count(*) AS n FROM projects WHERE tenant_id = $1",
          [tenantId],
        );
        const count = Number(c?.n ?? 0);
        if (limit !== null && count >= limit) return { status: "exceeded", count };
        const [row] = await tx.query<ProjectRow>(
          `INSERT INTO projects (id, tenant_id, name) VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id, name) DO NOTHING RETURNING ${PROJECT_COLUMNS}`,
          [project.id, tenantId, project.name],
        );
        if (!row) return { status: "duplicate" };
        await appendAudit(tx, tenantId, { ...audit, targetId: row.id });
        return { status: "created", row };
      }),
  };
}
export type ProjectStore = ReturnType<typeof createProjectStore>;
