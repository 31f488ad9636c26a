import { type Scope, Scopes } from "@engram/contract";
import type { PlanCatalog } from "../plans/plans.ts";
import { hashSecret, looksLikeApiKey } from "./api-key.ts";
import type { TenantContext } from "./context.ts";
import type { KeyStore } from "./key-store.ts";

/** Why a well-formed key was refused after its lookup. */
export type AuthFailure = "unknown" | "expired" | { suspended: string | null };

/** Milliseconds between two writes of a key's last-used time. */
const TOUCH_EVERY_MS = 60_000;

/** Authentication: a presented API key becomes the tenant context every verb takes. */
export function createAuthenticationService(store: KeyStore, plans: PlanCatalog) {
  return {
    /** Turns a bearer API key into a tenant context, or says why it cannot. */
    async authenticateKey(token: string, requestId: string): Promise<TenantContext | AuthFailure> {
      if (!looksLikeApiKey(token)) return "unknown";
      const row = await store.authenticate(hashSecret(token));
      if (!row) return "unknown";
      if (row.expires_at && row.expires_at.getTime() <= Date.now()) return "expired";
      if (row.suspended_at) return { suspended: row.suspended_reason };
      if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > TOUCH_EVERY_MS) {
        await store.touchKey(row.tenant_id, row.key_id);
        row.last_used_at = new Date(); // a remembered row (embedded mode) is not touched again
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
export type AuthenticationService = ReturnType<typeof createAuthenticationService>;
