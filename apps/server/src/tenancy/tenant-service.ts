import {
  type ApiKey,
  type CreatedKey,
  type CreateKeyBody,
  type CreateProjectBody,
  type CreateTenantBody,
  type DeletionReceipt,
  type ListAuditQuery,
  type ListAuditResponse,
  type ListKeysQuery,
  type ListKeysResponse,
  type ListTenantsResponse,
  type Project,
  type ProvisionedTenant,
  type QuotaMetric,
  type Scope,
  Scopes,
  type Tenant,
  type UpdateTenantBody,
} from "@engram/contract";
import { decodeIdCursor, nextIdCursor } from "../lib/cursor.ts";
import { AppError, notFound } from "../lib/errors.ts";
import { isId, newId } from "../lib/ids.ts";
import type { PlanCatalog } from "../plans/plans.ts";
import { generateApiKey, hashSecret, looksLikeApiKey } from "./api-key.ts";
import type { AuditEntry } from "./audit.ts";
import { type Actor, actorName, requireScope, type TenantContext } from "./context.ts";
import type { KeyRow, NewKey, ProjectRow, TenantRow, TenantStore } from "./tenant-store.ts";

/** Why a well-formed key was refused after its lookup. */
export type AuthFailure = "unknown" | "expired" | { suspended: string | null };

/** Seconds between two writes of a key's last-used time. */
const TOUCH_EVERY_MS = 60_000;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

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

function toProject(r: ProjectRow): Project {
  return {
    id: r.id,
    name: r.name,
    is_default: r.is_default,
    created_at: r.created_at.toISOString(),
  };
}

function toKey(r: KeyRow): ApiKey {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    project_id: r.project_id,
    scopes: r.scopes,
    created_at: r.created_at.toISOString(),
    expires_at: iso(r.expires_at),
    last_used_at: iso(r.last_used_at),
    revoked_at: iso(r.revoked_at),
  };
}

/** 402 for a count the plan bounds (projects, keys): the metric, its limit and the count now. */
function quotaExceeded(metric: QuotaMetric, limit: number, used: number, what: string) {
  return new AppError(
    "quota_exceeded",
    `The plan allows ${limit} ${what}; this tenant has ${used}`,
    undefined,
    { metric, limit, used },
  );
}

function page<R extends { id: string }, T>(p: { rows: R[]; more: boolean }, map: (r: R) => T) {
  return { results: p.rows.map(map), next_cursor: nextIdCursor(p) };
}

/** Tenant, project, key and audit verbs. Admin verbs take no context: their route checks the admin. */
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

  function newKey(
    input: CreateKeyBody,
    projectId: string,
    scopes: readonly string[],
  ): { key: NewKey; secret: string } {
    if (input.expires_at !== undefined && !(Date.parse(input.expires_at) > Date.now())) {
      throw new AppError("validation_failed", "expires_at must be in the future", "expires_at");
    }
    const secret = generateApiKey();
    return {
      secret: secret.key,
      key: {
        id: newId("key"),
        name: input.name ?? null,
        prefix: secret.prefix,
        hash: secret.hash,
        projectId,
        scopes: [...scopes],
        expiresAt: input.expires_at ?? null,
      },
    };
  }

  async function resolveProject(tenantId: string, projectId: string | undefined, fallback: string) {
    if (projectId === undefined) return fallback;
    if (!isId("prj", projectId) || !(await store.findProject(tenantId, projectId))) {
      throw new AppError("not_found", `Project ${JSON.stringify(projectId)} was not found`);
    }
    return projectId;
  }

  async function defaultProject(tenantId: string): Promise<string> {
    const projects = await store.listProjects(tenantId);
    const found = projects.find((p) => p.is_default) ?? projects[0];
    if (!found) throw notFound("Tenant", tenantId);
    return found.id;
  }

  /** Inserts the key unless the tenant's plan limit on active keys (`limit`) is reached. */
  async function insertKey(
    tenantId: string,
    actor: Actor,
    input: CreateKeyBody,
    projectId: string,
    scopes: readonly string[],
    limit: number | null,
  ): Promise<CreatedKey> {
    const { key, secret } = newKey(input, projectId, scopes);
    const out = await store.insertKey(tenantId, key, limit, {
      actor: actorName(actor),
      action: "key.create",
      details: {
        name: key.name,
        project_id: projectId,
        scopes: key.scopes,
        expires_at: key.expiresAt,
      },
    });
    if (out.exceeded) {
      throw quotaExceeded("api_keys", limit as number, out.count, "active API key(s)");
    }
    return { ...toKey(out.row), key: secret };
  }

  return {
    plans,

    /** Creates a tenant with its default project and first key, in one transaction. */
    async provisionTenant(input: CreateTenantBody): Promise<ProvisionedTenant> {
      checkPlan(input.plan, "plan");
      const tenantId = newId("ten");
      const { key, secret } = newKey({ name: "default" }, newId("prj"), Scopes);
      const out = await store.provisionTenant(
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

    async listTenants(input: ListKeysQuery): Promise<ListTenantsResponse> {
      const before = decodeIdCursor(input.cursor, "ten");
      return page(await store.listTenants(input.limit ?? 20, before), toTenant);
    },

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

    /**
     * Admin: a key for any project of the tenant (its default project unless one is named), within
     * the plan's api_keys limit like any other (the admin raises it with an override).
     */
    async createKey(tenantId: string, input: CreateKeyBody): Promise<CreatedKey> {
      const tenant = isId("ten", tenantId) ? await store.findTenant(tenantId) : undefined;
      if (!tenant) throw notFound("Tenant", tenantId);
      const projectId = await resolveProject(
        tenantId,
        input.project_id,
        await defaultProject(tenantId),
      );
      const { limits } = plans.effective(tenant.plan, tenant.overrides);
      return insertKey(
        tenantId,
        { kind: "admin" },
        input,
        projectId,
        input.scopes ?? Scopes,
        limits.api_keys,
      );
    },

    /** A tenant key with keys:manage creates a key with at most its own scopes. */
    async createOwnKey(ctx: TenantContext, input: CreateKeyBody): Promise<CreatedKey> {
      requireScope(ctx, "keys:manage");
      const scopes = input.scopes ?? [...ctx.scopes];
      const beyond = scopes.find((s) => !ctx.scopes.has(s));
      if (beyond) {
        throw new AppError(
          "forbidden",
          `A key cannot grant the "${beyond}" scope it lacks itself`,
          "scopes",
        );
      }
      // Nor can it outlive itself: a key with an expiry creates keys that expire no later.
      let expiresAt = input.expires_at;
      if (ctx.expiresAt) {
        if (expiresAt === undefined) expiresAt = ctx.expiresAt.toISOString();
        else if (Date.parse(expiresAt) > ctx.expiresAt.getTime()) {
          throw new AppError(
            "forbidden",
            `A key cannot outlive the key that creates it (${ctx.expiresAt.toISOString()})`,
            "expires_at",
          );
        }
      }
      const projectId = await resolveProject(ctx.tenantId, input.project_id, ctx.projectId);
      return insertKey(
        ctx.tenantId,
        ctx.actor,
        { ...input, ...(expiresAt ? { expires_at: expiresAt } : {}) },
        projectId,
        scopes,
        ctx.plan.limits.api_keys,
      );
    },

    async listKeys(ctx: TenantContext, input: ListKeysQuery): Promise<ListKeysResponse> {
      requireScope(ctx, "keys:manage");
      const before = decodeIdCursor(input.cursor, "key");
      return page(await store.listKeys(ctx.tenantId, input.limit ?? 20, before), toKey);
    },

    /**
     * Revokes at once: every process checks the database on every request. A key revokes only
     * keys whose scopes it holds itself (as it creates only such keys): a narrow keys:manage key
     * cannot lock the tenant out of its broader keys. The admin revokes any.
     */
    async revokeKey(ctx: TenantContext, keyId: string): Promise<ApiKey> {
      requireScope(ctx, "keys:manage");
      const allow = (key: KeyRow) => {
        if (ctx.actor.kind === "admin") return;
        const beyond = key.scopes.find((s) => !ctx.scopes.has(s as Scope));
        if (beyond) {
          throw new AppError(
            "forbidden",
            `A key cannot revoke a key with the "${beyond}" scope it lacks itself`,
          );
        }
      };
      const row = isId("key", keyId)
        ? await store.revokeKey(ctx.tenantId, keyId, allow, {
            actor: actorName(ctx.actor),
            action: "key.revoke",
          })
        : undefined;
      if (!row) throw notFound("API key", keyId);
      return toKey(row);
    },

    async listProjects(ctx: TenantContext): Promise<Project[]> {
      requireScope(ctx, "keys:manage");
      return (await store.listProjects(ctx.tenantId)).map(toProject);
    },

    async createProject(ctx: TenantContext, input: CreateProjectBody): Promise<Project> {
      requireScope(ctx, "keys:manage");
      const limit = ctx.plan.limits.projects;
      const out = await store.createProject(
        ctx.tenantId,
        { id: newId("prj"), name: input.name },
        limit,
        { actor: actorName(ctx.actor), action: "project.create", details: { name: input.name } },
      );
      if (out.exceeded) throw quotaExceeded("projects", limit as number, out.count, "project(s)");
      if (!out.row)
        throw new AppError("conflict", `A project named "${input.name}" exists`, "name");
      return toProject(out.row);
    },

    async listAudit(ctx: TenantContext, input: ListAuditQuery): Promise<ListAuditResponse> {
      requireScope(ctx, "keys:manage");
      const before = decodeIdCursor(input.cursor, "aud");
      return page(await store.listAudit(ctx.tenantId, input.limit ?? 20, before), (r) => ({
        ...r,
        created_at: r.created_at.toISOString(),
      }));
    },

    /** Turns a bearer API key into a tenant context, or says why it cannot. */
    async authenticateKey(token: string, requestId: string): Promise<TenantContext | AuthFailure> {
      if (!looksLikeApiKey(token)) return "unknown";
      const row = await store.authenticate(hashSecret(token));
      if (!row) return "unknown";
      if (row.expires_at && row.expires_at.getTime() <= Date.now()) return "expired";
      if (row.suspended_at) return { suspended: row.suspended_reason };
      if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > TOUCH_EVERY_MS) {
        await store.touchKey(row.tenant_id, row.key_id);
      }
      return {
        tenantId: row.tenant_id,
        projectId: row.project_id,
        actor: { kind: "key", keyId: row.key_id },
        scopes: new Set(
          row.scopes.filter((s): s is Scope => (Scopes as readonly string[]).includes(s)),
        ),
        plan: plans.effective(row.plan, row.overrides),
        expiresAt: row.expires_at,
        requestId,
      };
    },
  };
}
export type TenantService = ReturnType<typeof createTenantService>;
