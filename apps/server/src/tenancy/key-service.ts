import {
  type ApiKey,
  type CreatedKey,
  type CreateKeyBody,
  type ListKeysQuery,
  type ListKeysResponse,
  type Scope,
  Scopes,
} from "@engram/contract";
import { decodeIdCursor, pageOf } from "../lib/cursor.ts";
import { AppError, notFound } from "../lib/errors.ts";
import { isId, newId } from "../lib/ids.ts";
import type { PlanCatalog } from "../plans/plans.ts";
import { generateApiKey } from "./api-key.ts";
import { type Actor, actorName, requireScope, type TenantContext } from "./context.ts";
import type { KeyRow, KeyStore, NewKey } from "./key-store.ts";
import { countLimitExceeded } from "./plan-limits.ts";
import type { ProjectStore } from "./project-store.ts";
import type { TenantStore } from "./tenant-store.ts";

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A key row as the API shows it (never its hash; the secret only in CreatedKey, once). */
export function toKey(r: KeyRow): ApiKey {
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

/** A new key for `projectId` with a fresh secret; refuses an expiry that is not in the future. */
export function newKey(
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

/** API key verbs: the admin's and a tenant's own key creation, listing and revocation. */
export function createKeyService(deps: {
  keys: KeyStore;
  projects: ProjectStore;
  tenants: TenantStore;
  plans: PlanCatalog;
}) {
  const { keys, projects, tenants, plans } = deps;

  async function resolveProject(tenantId: string, projectId: string | undefined, fallback: string) {
    if (projectId === undefined) return fallback;
    if (!isId("prj", projectId) || !(await projects.findProject(tenantId, projectId))) {
      throw new AppError("not_found", `Project ${JSON.stringify(projectId)} was not found`);
    }
    return projectId;
  }

  async function defaultProject(tenantId: string): Promise<string> {
    const all = await projects.listProjects(tenantId);
    const found = all.find((p) => p.is_default) ?? all[0];
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
    const out = await keys.insertKey(tenantId, key, limit, {
      actor: actorName(actor),
      action: "key.create",
      details: {
        name: key.name,
        project_id: projectId,
        scopes: key.scopes,
        expires_at: key.expiresAt,
      },
    });
    if (out.status === "exceeded") {
      throw countLimitExceeded("api_keys", limit as number, out.count, "active API key(s)");
    }
    return { ...toKey(out.row), key: secret };
  }

  return {
    /**
     * Admin: a key for any project of the tenant (its default project unless one is named), within
     * the plan's api_keys limit like any other (the admin raises it with an override).
     */
    async createKey(tenantId: string, input: CreateKeyBody): Promise<CreatedKey> {
      const tenant = isId("ten", tenantId) ? await tenants.findTenant(tenantId) : undefined;
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

    /** A page of the caller's tenant's keys, newest first (never their secrets). */
    async listKeys(ctx: TenantContext, input: ListKeysQuery): Promise<ListKeysResponse> {
      requireScope(ctx, "keys:manage");
      const before = decodeIdCursor(input.cursor, "key");
      return pageOf(await keys.listKeys(ctx.tenantId, input.limit ?? 20, before), toKey);
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
        ? await keys.revokeKey(ctx.tenantId, keyId, allow, {
            actor: actorName(ctx.actor),
            action: "key.revoke",
          })
        : undefined;
      if (!row) throw notFound("API key", keyId);
      return toKey(row);
    },
  };
}
export type KeyService = ReturnType<typeof createKeyService>;
