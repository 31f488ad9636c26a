import {
  type CreateTenantBody,
  type DeletionReceipt,
  type ListKeysQuery,
  type ListPlansResponse,
  type ListTenantsResponse,
  type ProvisionedTenant,
  Scopes,
  type Tenant,
  type UpdateTenantBody,
} from "@engram/contract";
import { decodeIdCursor, pageOf } from "../lib/cursor.ts";
import { AppError, notFound } from "../lib/errors.ts";
import { isId, newId } from "../lib/ids.ts";
import type { PlanCatalog } from "../plans/plans.ts";
import type { AuditEntry } from "./audit.ts";
import { newKey, toKey } from "./key-service.ts";
import { toProject } from "./project-service.ts";
import type { TenantRow, TenantStore } from "./tenant-store.ts";

function toTenant(r: TenantRow): Tenant {
  return {
    id: r.id,
    name: r.name,
    plan: r.plan,
    overrides: r.overrides,
    suspended: r.suspended_at !== null,
    suspended_reason: r.suspended_reason,
    created_at: r.created_at.toISOString(),
  };
}

/** Admin verbs on tenants and their plans; they take no context (their routes check the admin). */
export function createTenantService(store: TenantStore, plans: PlanCatalog) {
  function checkPlan(plan: string | undefined, field: string): void {
    if (plan !== undefined && !plans.get(plan)) {
      const known = plans
        .list()
        .map((p) => p.id)
        .join(", ");
      throw new AppError("validation_failed", `Unknown plan "${plan}" (plans: ${known})`, field);
    }
  }

  return {
    /** The plans tenants can be on, with their limits, included amounts and prices. */
    listPlans(): ListPlansResponse {
      return { results: plans.list() };
    },

    /** Creates a tenant with its default project and first key, in one transaction. */
    async createTenant(input: CreateTenantBody): Promise<ProvisionedTenant> {
      checkPlan(input.plan, "plan");
      const tenantId = newId("ten");
      const { key, secret } = newKey({ name: "default" }, newId("prj"), Scopes);
      const out = await store.insertTenant(
        {
          id: tenantId,
          name: input.name,
          plan: input.plan ?? plans.defaultPlan,
          overrides: input.overrides ?? {},
        },
        { id: key.projectId },
        key,
        {
          actor: "admin",
          action: "tenant.create",
          details: { plan: input.plan ?? plans.defaultPlan },
        },
      );
      return {
        ...toTenant(out.tenant),
        project: toProject(out.project),
        key: { ...toKey(out.key), key: secret },
      };
    },

    /** A page of every tenant, newest first. */
    async listTenants(input: ListKeysQuery): Promise<ListTenantsResponse> {
      const before = decodeIdCursor(input.cursor, "ten");
      return pageOf(await store.listTenants(input.limit ?? 20, before), toTenant);
    },

    /** One tenant, or not_found. */
    async getTenant(id: string): Promise<Tenant> {
      const row = isId("ten", id) ? await store.findTenant(id) : undefined;
      if (!row) throw notFound("Tenant", id);
      return toTenant(row);
    },

    /** Renames, changes plan or overrides, suspends or reinstates; each change is audited. */
    async updateTenant(id: string, input: UpdateTenantBody): Promise<Tenant> {
      checkPlan(input.plan, "plan");
      if (input.suspended_reason !== undefined && input.suspended !== true) {
        throw new AppError(
          "validation_failed",
          "suspended_reason needs suspended: true",
          "suspended_reason",
        );
      }
      const row = isId("ten", id)
        ? await store.updateTenant(id, (old) => {
            const set: Partial<TenantRow> = {};
            const audit: AuditEntry[] = [];
            if (input.name !== undefined && input.name !== old.name) {
              set.name = input.name;
              audit.push({
                actor: "admin",
                action: "tenant.update",
                details: { name: input.name },
              });
            }
            if (input.plan !== undefined && input.plan !== old.plan) {
              set.plan = input.plan;
              audit.push({
                actor: "admin",
                action: "tenant.plan_change",
                details: { from: old.plan, to: input.plan },
              });
            }
            if (input.overrides !== undefined) {
              set.overrides = input.overrides;
              audit.push({
                actor: "admin",
                action: "tenant.plan_change",
                details: { overrides: input.overrides },
              });
            }
            if (input.suspended === true && old.suspended_at === null) {
              set.suspended_at = new Date();
              set.suspended_reason = input.suspended_reason ?? null;
              audit.push({
                actor: "admin",
                action: "tenant.suspend",
                details: { reason: set.suspended_reason },
              });
            } else if (input.suspended === false && old.suspended_at !== null) {
              set.suspended_at = null;
              set.suspended_reason = null;
              audit.push({ actor: "admin", action: "tenant.unsuspend", details: {} });
            }
            return { set, audit };
          })
        : undefined;
      if (!row) throw notFound("Tenant", id);
      return toTenant(row);
    },

    /** Deletes the tenant and every row it owns; the receipt counts what went. */
    async deleteTenant(id: string): Promise<DeletionReceipt> {
      const out = isId("ten", id) ? await store.deleteTenant(id) : undefined;
      if (!out) throw notFound("Tenant", id);
      return { tenant_id: id, deleted_at: out.deletedAt.toISOString(), removed: out.removed };
    },
  };
}
export type TenantService = ReturnType<typeof createTenantService>;
