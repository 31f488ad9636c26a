import { AppError } from "../lib/errors.ts";
import type { TenantContext } from "../tenancy/context.ts";
import type { MemoryScope } from "./memory-store.ts";
import type { Validity } from "./memory-validity.ts";

// Checks and readings of request fields shared by the memory verbs (memory-service.ts) and
// memory search (memory-search.ts).

// The date-time format allows any 4-digit year, but Postgres has no year 0 (a 500) and rejects
// years past 9999 in UTC, and PGlite reads years 1 to 99 back wrongly (0001 as 2001).
const TIMESTAMP_MIN = Date.parse("0100-01-01T00:00:00Z");
const TIMESTAMP_MAX = Date.parse("9999-12-31T23:59:59.999Z");

export function checkTimestamp(timestamp: string | undefined, field: string): void {
  if (timestamp === undefined) return;
  // A leap second (":60", allowed by the format) is one second after ":59"; Date.parse refuses it.
  const leap = /:60(?=[.zZ+-])/;
  const ms = Date.parse(timestamp.replace(leap, ":59")) + (leap.test(timestamp) ? 1000 : 0);
  if (!(ms >= TIMESTAMP_MIN && ms <= TIMESTAMP_MAX)) {
    throw new AppError(
      "validation_failed",
      "timestamp must fall between the years 0100 and 9999 (UTC)",
      field,
    );
  }
}

/** Which memories a search or listing sees (memory-validity.ts); as_of checked like timestamps. */
export function validityOf(input: { as_of?: string; include_superseded?: boolean }): Validity {
  checkTimestamp(input.as_of, "as_of");
  return { asOf: input.as_of, includeSuperseded: input.include_superseded };
}

/** A request's scope ids, in the key's project. */
export function scopeOf(
  ctx: TenantContext,
  input: { user_id?: string; agent_id?: string; session_id?: string },
): MemoryScope & { projectId: string } {
  return {
    projectId: ctx.projectId,
    userId: input.user_id,
    agentId: input.agent_id,
    sessionId: input.session_id,
  };
}
