/**
 * The ids a request narrows memories or knowledge to; an absent id narrows nothing. Values reach
 * SQL only as parameters, and column names only from the table below.
 */
export interface Scope {
  projectId?: string | undefined;
  userId?: string | undefined;
  agentId?: string | undefined;
  sessionId?: string | undefined;
  collection?: string | undefined;
  documentId?: string | undefined;
}

const COLUMNS = [
  ["projectId", "project_id"],
  ["userId", "user_id"],
  ["agentId", "agent_id"],
  ["sessionId", "session_id"],
  ["collection", "collection"],
  ["documentId", "document_id"],
] as const;

/** The owner ids: the ones a row may leave empty to be shared (ADR 0019; sessions ADR 0030). */
const OWNERS: ReadonlySet<string> = new Set(["user_id", "agent_id", "session_id"]);

/**
 * How owner ids (user, agent, session) match: `exact`ly (memories, document listings), or
 * `ownOrShared`: that owner's rows and the rows of no owner, which every user (agent, session) of
 * the project shares (knowledge search, ADR 0019). The other ids always match exactly.
 */
export type OwnerMatch = "exact" | "ownOrShared";

/**
 * `AND <alias>column = $n` for each id the scope gives, its value appended to `params` (so `$n`
 * numbers follow the parameters already there). `alias` is a trusted SQL prefix such as "m.".
 */
export function scopeSql(
  scope: Scope,
  params: unknown[],
  opts: { alias?: string; owners?: OwnerMatch } = {},
): string {
  const alias = opts.alias ?? "";
  let sql = "";
  for (const [field, column] of COLUMNS) {
    const value = scope[field];
    if (value === undefined) continue;
    const col = `${alias}${column}`;
    const p = `$${params.push(value)}`;
    sql +=
      opts.owners === "ownOrShared" && OWNERS.has(column)
        ? ` AND (${col} = ${p} OR ${col} IS NULL)`
        : ` AND ${col} = ${p}`;
  }
  return sql;
}
