import {
  type CreatedKey,
  type CreateKeyBody,
  type CreateTenantBody,
  type Scope,
  Scopes,
  type Tenant,
} from "@engram/contract";
import { notFound } from "../lib/errors.ts";
import { isId, newId } from "../lib/ids.ts";
import { generateApiKey, hashSecret, looksLikeApiKey } from "./api-key.ts";
import type { TenantContext } from "./context.ts";
import type { TenantStore } from "./tenant-store.ts";

/** Tenant and key verbs. Admin-only verbs take no tenant context: the route checks the admin. */
export function createTenantService(store: TenantStore) {
  return {
    /** Creates a tenant. */
    async createTenant(input: CreateTenantBody): Promise<Tenant> {
      const row = await store.insertTenant(newId("ten"), input.name);
      return { id: row.id, name: row.name, created_at: row.created_at.toISOString() };
    },

    /** Creates an API key for a tenant; the secret is returned once and stored only hashed. */
    async createKey(tenantId: string, input: CreateKeyBody): Promise<CreatedKey> {
      if (!isId("ten", tenantId) || !(await store.findTenant(tenantId))) {
        throw notFound("Tenant", tenantId);
      }
      const secret = generateApiKey();
      const row = await store.insertKey(tenantId, {
        id: newId("key"),
        name: input.name ?? null,
        prefix: secret.prefix,
        hash: secret.hash,
        scopes: [...(input.scopes ?? Scopes)],
      });
      return {
        id: row.id,
        name: row.name,
        key: secret.key,
        prefix: row.prefix,
        scopes: row.scopes,
        created_at: row.created_at.toISOString(),
      };
    },

    /** Turns a bearer API key into a tenant context, or undefined when it is unknown or revoked. */
    async authenticateKey(token: string, requestId: string): Promise<TenantContext | undefined> {
      if (!looksLikeApiKey(token)) return undefined;
      const row = await store.authenticate(hashSecret(token));
      if (!row) return undefined;
      return {
        tenantId: row.tenant_id,
        actor: { kind: "key", keyId: row.key_id },
        scopes: new Set(
          row.scopes.filter((s): s is Scope => (Scopes as readonly string[]).includes(s)),
        ),
        requestId,
      };
    },
  };
}
export type TenantService = ReturnType<typeof createTenantService>;
