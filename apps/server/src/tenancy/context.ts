import type { Scope } from "@engram/contract";
import { AppError } from "../lib/errors.ts";
import type { EffectivePlan } from "../plans/plans.ts";

/** Who is calling: resolved once by the auth layer, passed to every service verb. */
export type Actor =
  | { kind: "admin" }
  | { kind: "key"; keyId: string }
  /** A widget visitor: an agent's publishable key, which reaches only that agent's chat. */
  | { kind: "visitor"; agentId: string };

export interface TenantContext {
  tenantId: string;
  /** The project the key belongs to: memories are read and written in it. */
  projectId: string;
  actor: Actor;
  scopes: ReadonlySet<Scope>;
  /** When the calling key expires (null: never); keys it creates cannot outlive it. */
  expiresAt?: Date | null;
  /** The tenant's plan with its overrides: quotas and the rate limit. */
  plan: EffectivePlan;
  requestId: string;
}

/** First line of every verb: the caller's key must carry the scope. */
export function requireScope(ctx: TenantContext, scope: Scope): void {
  if (!ctx.scopes.has(scope)) {
    throw new AppError("forbidden", `This API key lacks the "${scope}" scope`);
  }
}

/** How an audit row names who acted: "admin" or the key id. */
export function actorName(actor: Actor): string {
  if (actor.kind === "admin") return "admin";
  return actor.kind === "key" ? actor.keyId : `visitor:${actor.agentId}`;
}
