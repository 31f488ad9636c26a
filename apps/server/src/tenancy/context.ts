import type { Scope } from "@engram/contract";
import { AppError } from "../lib/errors.ts";

/** Who is calling: resolved once by the auth layer, passed to every service verb. */
export type Actor = { kind: "admin" } | { kind: "key"; keyId: string };

export interface TenantContext {
  tenantId: string;
  actor: Actor;
  scopes: ReadonlySet<Scope>;
  requestId: string;
}

/** First line of every verb: the caller's key must carry the scope. */
export function requireScope(ctx: TenantContext, scope: Scope): void {
  if (!ctx.scopes.has(scope)) {
    throw new AppError("forbidden", `This API key lacks the "${scope}" scope`);
  }
}
