import type { CreateProjectBody, ListProjectsResponse, Project } from "@engram/contract";
import { AppError } from "../lib/errors.ts";
import { newId } from "../lib/ids.ts";
import { actorName, requireScope, type TenantContext } from "./context.ts";
import { countLimitExceeded } from "./plan-limits.ts";
import type { ProjectRow, ProjectStore } from "./project-store.ts";

/** A project row as the API shows it. */
export function toProject(r: ProjectRow): Project {
  return {
    id: r.id,
    name: r.name,
    is_default: r.is_default,
    created_at: r.created_at.toISOString(),
  };
}

/** Project verbs: a tenant's projects, each with its own memories and keys. */
export function createProjectService(store: ProjectStore) {
  return {
    /** Every project of the caller's tenant, oldest first. */
    async listProjects(ctx: TenantContext): Promise<ListProjectsResponse> {
      requireScope(ctx, "keys:manage");
      return { results: (await store.listProjects(ctx.tenantId)).map(toProject) };
    },

    /** A new project, within the plan's projects limit; its name is unique in the tenant. */
    async createProject(ctx: TenantContext, input: CreateProjectBody): Promise<Project> {
      requireScope(ctx, "keys:manage");
      const limit = ctx.plan.limits.projects;
      const out = await store.createProject(
        ctx.tenantId,
        { id: newId("prj"), name: input.name },
        limit,
        { actor: actorName(ctx.actor), action: "project.create", details: { name: input.name } },
      );
      if (out.status === "exceeded") {
        throw countLimitExceeded("projects", limit as number, out.count, "project(s)");
      }
      if (out.status === "duplicate") {
        throw new AppError("conflict", `A project named "${input.name}" exists`, "name");
      }
      return toProject(out.row);
    },
  };
}
export type ProjectService = ReturnType<typeof createProjectService>;
