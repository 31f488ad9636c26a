import { AppError } from "../lib/errors.ts";

/**
 * mem0's v2 `filters` → an Engram scope and metadata filter (search/filter-sql.ts's language).
 *
 * mem0: `{ user_id: "a" }`, `{ AND: [ {user_id: "a"}, {metadata: {k: v}} ] }`, `OR`/`NOT` lists,
 * per-field operators (`in`, `ne`, `gt`, `gte`, `lt`, `lte`, `contains`, `icontains`), `metadata`
 * and `categories` conditions. Engram scopes a read by one user, agent and session id (equality,
 * ANDed with everything else) and filters by metadata and categories with and/or/not; so:
 * - `user_id`, `agent_id`, `run_id` (→ session_id) must be plain equalities in the conjunctive part
 *   (top level or an AND list, at any depth of ANDs): under OR or NOT, with an operator, as the
 *   wildcard `"*"` or twice with different values they are a 400 `invalid_filter`;
 * - `metadata: {key: value | {op: value}}` and `categories: name | {in | contains: …}` map to the
 *   same conditions in Engram's language, under AND, OR and NOT alike;
 * - everything else (`app_id`, `created_at`, `updated_at`, `keywords`, unknown fields or
 *   operators) is a 400 `invalid_filter` whose `field` is the mem0 path of the bad part.
 */

export interface TranslatedFilters {
  scope: { user_id?: string; agent_id?: string; session_id?: string };
  /** Engram's metadata/categories filter; undefined when mem0's filters held scope ids only. */
  filters?: Record<string, unknown>;
}

const SCOPE_FIELDS = { user_id: "user_id", agent_id: "agent_id", run_id: "session_id" } as const;
type Mem0ScopeField = keyof typeof SCOPE_FIELDS;

/** mem0's comparison operators and their Engram names (icontains: Engram's contains ignores case). */
const OPERATORS: Record<string, string> = {
  eq: "eq",
  ne: "ne",
  gt: "gt",
  gte: "gte",
  lt: "lt",
  lte: "lte",
  in: "in",
  nin: "nin",
  contains: "contains",
  icontains: "contains",
};
const CATEGORY_OPERATORS: Record<string, string> = {
  eq: "eq",
  ne: "ne",
  in: "in",
  nin: "nin",
  contains: "contains",
  icontains: "contains",
};

const UNSUPPORTED: Record<string, string> = {
  app_id: "Engram has no apps: scope by user_id, agent_id or run_id, or filter by metadata",
  created_at: "Engram does not filter by creation time here; use metadata",
  updated_at: "Engram does not filter by update time here; use metadata",
  keywords: "Engram's hybrid search already matches keywords; use the query",
};

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

const fail = (path: string, detail: string): never => {
  throw new AppError("invalid_filter", `${path}: ${detail}`, path);
};

function logicalKey(key: string): "and" | "or" | "not" | undefined {
  const k = key.toLowerCase();
  return k === "and" || k === "or" || k === "not" ? k : undefined;
}

/** Translates mem0's filters (at `path` in the request, e.g. "filters"). */
export function translateFilters(filters: unknown, path = "filters"): TranslatedFilters {
  const scope: TranslatedFilters["scope"] = {};
  const conditions: Record<string, unknown>[] = [];

  const setScope = (field: Mem0ScopeField, value: unknown, at: string) => {
    const id =
      isObject(value) && Object.keys(value).length === 1 && "eq" in value ? value.eq : value;
    if (typeof id !== "string" || id.length === 0 || id.length > 128) {
      fail(at, `${field} takes one id (1 to 128 characters); Engram scopes by equality only`);
    }
    if (id === "*") fail(at, `the wildcard "*" is not supported; leave ${field} out to read all`);
    const target = SCOPE_FIELDS[field];
    if (scope[target] !== undefined && scope[target] !== id) {
      fail(at, `${field} is given twice with different values`);
    }
    scope[target] = id as string;
  };

  /** An object of ANDed conditions, where scope ids are allowed. */
  const conjunction = (node: unknown, at: string) => {
    if (!isObject(node)) return fail(at, "a filter must be an object of conditions");
    const entries = Object.entries(node);
    if (entries.length === 0) fail(at, "a filter needs at least one condition");
    for (const [key, value] of entries) {
      const logical = logicalKey(key);
      if (logical === "and") {
        if (!Array.isArray(value) || value.length === 0) {
          fail(`${at}.${key}`, "AND needs a non-empty list of filters");
        }
        (value as unknown[]).forEach((child, i) => {
          conjunction(child, `${at}.${key}[${i}]`);
        });
      } else if (key in SCOPE_FIELDS) {
        setScope(key as Mem0ScopeField, value, `${at}.${key}`);
      } else {
        conditions.push(expression({ [key]: value }, at));
      }
    }
  };

  if (filters !== undefined) conjunction(filters, path);
  const filter = conditions.length === 1 ? conditions[0] : { and: conditions };
  return conditions.length === 0 ? { scope } : { scope, filters: filter };
}

/** A condition outside the conjunctive part (or a metadata/categories one): no scope ids. */
function expression(node: unknown, at: string): Record<string, unknown> {
  if (!isObject(node)) return fail(at, "a filter must be an object of conditions");
  const entries = Object.entries(node);
  if (entries.length === 0) fail(at, "a filter needs at least one condition");
  const parts = entries.map(([key, value]): Record<string, unknown> => {
    const here = `${at}.${key}`;
    const logical = logicalKey(key);
    if (logical === "and" || logical === "or") {
      if (!Array.isArray(value) || value.length === 0) {
        return fail(here, `${key} needs a non-empty list of filters`);
      }
      return { [logical]: value.map((child, i) => expression(child, `${here}[${i}]`)) };
    }
    if (logical === "not") {
      // mem0 writes NOT as a list of filters (none may hold); an object is taken as one.
      const list = Array.isArray(value) ? value : [value];
      if (list.length === 0) return fail(here, "NOT needs at least one filter");
      const inner = list.map((child, i) =>
        expression(child, Array.isArray(value) ? `${here}[${i}]` : here),
      );
      return { not: inner.length === 1 ? inner[0] : { or: inner } };
    }
    if (key in SCOPE_FIELDS) {
      return fail(here, `${key} may only be ANDed with the rest: Engram reads one scope at a time`);
    }
    if (key === "metadata") return metadata(value, here);
    if (key === "categories") return { categories: operand(value, here, CATEGORY_OPERATORS) };
    const why = UNSUPPORTED[key];
    if (why) return fail(here, why);
    return fail(here, "unknown filter field; use user_id, agent_id, run_id, metadata, categories");
  });
  return parts.length === 1 ? (parts[0] as Record<string, unknown>) : { and: parts };
}

/** `metadata: {key: value | {op: value}}`: one Engram condition per key, ANDed. */
function metadata(value: unknown, at: string): Record<string, unknown> {
  if (!isObject(value) || Object.keys(value).length === 0) {
    return fail(at, "metadata takes an object of {key: value} conditions");
  }
  const parts = Object.entries(value).map(([key, condition]) => {
    if (logicalKey(key)) fail(`${at}.${key}`, "combine metadata conditions with AND/OR outside");
    return { [key]: operand(condition, `${at}.${key}`, OPERATORS) };
  });
  return parts.length === 1 ? (parts[0] as Record<string, unknown>) : { and: parts };
}

/** A value (equality) or `{op: value, …}` with mem0's operator names mapped to Engram's. */
function operand(value: unknown, at: string, operators: Record<string, string>): unknown {
  if (!isObject(value)) return value;
  const entries = Object.entries(value);
  if (entries.length === 0) fail(at, "needs at least one operator");
  return Object.fromEntries(
    entries.map(([op, v]) => {
      const mapped = operators[op];
      if (!mapped) {
        return fail(`${at}.${op}`, `unknown operator; use ${Object.keys(operators).join(", ")}`);
      }
      return [mapped, v];
    }),
  );
}
