/**
 * Metadata filter → parameterised PostgreSQL WHERE fragment over a `jsonb` column.
 *
 * Language (DESIGN.md §4): `{ key: value }` is equality, `{ key: { op: value, … } }` applies one or
 * more operators (ANDed), `{ and: [f, …] }`, `{ or: [f, …] }`, `{ not: f }` combine filters, and
 * several keys in one object are ANDed. `and`, `or` and `not` are therefore reserved words, not
 * metadata keys. Only top-level metadata keys are addressed (`column -> $n`).
 *
 * Semantics, with v the value stored under the key (absent when the key is missing):
 * - eq: type-exact JSON equality with a scalar (5 ≠ "5"; 5 = 5.0). `null` matches a missing key or
 *   an explicit null. ne is exactly `not eq`: true for a missing key, and `ne: null` means "present
 *   and not null".
 * - gt/gte/lt/lte: a finite number compares numerically with JSON numbers only; a string compares
 *   by code point (COLLATE "C", so ISO-8601 dates order correctly) with JSON strings only. Any
 *   other stored type never matches.
 * - in: 1–100 scalars, same as an OR of eq (so a null in the list matches a missing key);
 *   nin is exactly `not in`, hence true for a missing key unless the list holds null.
 * - contains: a stored array holds the scalar (type-exact), or a stored string contains the given
 *   string case-insensitively (lower() on both sides, so case folding follows the database's
 *   ctype; plain substring, no wildcards); else false.
 *
 * Categories (only when the caller passes `options.categories`, which memory search does and
 * knowledge search does not): the key `categories`, at any level of and/or/not, is reserved and
 * addresses the memory's categories (a set of names, read as a JSON array of strings), not a
 * metadata key. Its operators: `eq`/`contains` (or a bare string) — the memory has that category;
 * `ne` — it does not; `in` — it has at least one of the listed ones; `nin` — none of them. Values
 * are category names (strings); gt/gte/lt/lte and null are rejected. A memory without categories
 * matches ne and nin only. Without the option, `categories` is an ordinary metadata key.
 *
 * Safety: keys and values only ever reach SQL as parameters (keys as text, values as JSON text cast
 * to jsonb), and every fragment evaluates to true or false, never NULL, so `not` is exact for
 * missing keys. Strings must be well-formed Unicode without NUL (Postgres rejects both), at most
 * 1024 characters (keys 128). Nesting is limited to 8 levels (the top filter is level 1) and 64
 * conditions (each key/operator pair counts one), so the size of the SQL is bounded. Empty filters
 * and empty operator objects are rejected rather than read as "match everything".
 */

import { AppError } from "../lib/errors.ts";

const OPERATORS = ["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains"] as const;
type Operator = (typeof OPERATORS)[number];
const COMPARE_SQL = { gt: ">", gte: ">=", lt: "<", lte: "<=" } as const;
const MAX_DEPTH = 8;
const MAX_CONDITIONS = 64;
const MAX_LIST = 100;
const MAX_KEY_LENGTH = 128;
const MAX_TEXT_LENGTH = 1024;

type Scalar = string | number | boolean | null;

/** A filter the caller must fix; `path` points at the bad part, e.g. "filters.and[1].price.gt". */
export class FilterError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = "FilterError";
  }
}

const fail = (path: string, detail: string): never => {
  throw new FilterError(`${path}: ${detail}`, path);
};

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

const isOperator = (x: string): x is Operator => (OPERATORS as readonly string[]).includes(x);

/** `filters.price` for plain keys, `filters["odd key"]` otherwise; long keys are shortened. */
function keyPath(path: string, key: string): string {
  const shown = key.length > 40 ? `${key.slice(0, 40)}…` : key;
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(shown)
    ? `${path}.${shown}`
    : `${path}[${JSON.stringify(shown)}]`;
}

function checkText(text: string, max: number, what: string, path: string): void {
  if (text.length > max) fail(path, `${what} is longer than ${max} characters`);
  if (!text.isWellFormed() || text.includes("\u0000")) {
    fail(path, `${what} must be valid Unicode text without NUL characters`);
  }
}

function scalar(value: unknown, path: string, need: string): Scalar {
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string") {
    checkText(value, MAX_TEXT_LENGTH, "text value", path);
    return value;
  }
  return fail(path, `${need} a string, number, boolean or null`);
}

// SQL building blocks; arguments are SQL expressions built here, never user text.
const text = (jsonb: string) => `(${jsonb} #>> '{}')`;
const ifType = (v: string, type: string, test: string) =>
  `(CASE WHEN jsonb_typeof(${v}) = '${type}' THEN ${test} ELSE false END)`;
const hasElement = (array: string, item: string) =>
  `EXISTS (SELECT 1 FROM jsonb_array_elements(${array}) AS e(filter_el) WHERE filter_el = ${item})`;

/** What compileFilter addresses besides the metadata column. */
export interface FilterOptions {
  /**
   * A trusted SQL expression giving the row's categories as a jsonb array of strings (e.g.
   * "to_jsonb(categories)"); when given, the key `categories` addresses it.
   */
  categories?: string;
}

const CATEGORY_OPERATORS: readonly Operator[] = ["eq", "ne", "in", "nin", "contains"];

class Compiler {
  readonly params: unknown[] = [];
  private conditions = 0;

  constructor(
    private readonly column: string,
    private readonly firstParam: number,
    private readonly options: FilterOptions,
  ) {}

  private param(value: unknown): string {
    this.params.push(value);
    return `$${this.firstParam + this.params.length - 1}`;
  }

  private json(value: unknown): string {
    return `${this.param(JSON.stringify(value))}::jsonb`;
  }

  filter(filter: unknown, path: string, depth: number): string {
    if (depth > MAX_DEPTH) fail(path, `filters may nest at most ${MAX_DEPTH} levels deep`);
    if (!isObject(filter)) return fail(path, "a filter must be an object of conditions");
    const entries = Object.entries(filter);
    if (entries.length === 0) fail(path, "a filter needs at least one condition");
    const parts = entries.map(([key, value]) => {
      if (key === "and" || key === "or") return this.combine(key, value, `${path}.${key}`, depth);
      if (key === "not") return `(NOT ${this.filter(value, `${path}.not`, depth + 1)})`;
      if (key === "categories" && this.options.categories !== undefined) {
        return this.categories(this.options.categories, value, `${path}.categories`);
      }
      return this.field(key, value, keyPath(path, key));
    });
    return parts.length === 1 ? (parts[0] as string) : `(${parts.join(" AND ")})`;
  }

  private combine(kind: "and" | "or", list: unknown, path: string, depth: number): string {
    if (!Array.isArray(list) || list.length === 0) {
      return fail(path, `"${kind}" needs a non-empty list of filters`);
    }
    const parts = list.map((f, i) => this.filter(f, `${path}[${i}]`, depth + 1));
    return `(${parts.join(kind === "and" ? " AND " : " OR ")})`;
  }

  private field(key: string, value: unknown, path: string): string {
    if (key.length === 0) fail(path, "metadata keys must not be empty");
    checkText(key, MAX_KEY_LENGTH, "metadata key", path);
    const v = `(${this.column} -> ${this.param(key)}::text)`;
    if (Array.isArray(value)) fail(path, 'equality needs a single value; use "in" for a list');
    if (!isObject(value)) return this.condition(v, "eq", value, path);
    const ops = Object.entries(value);
    if (ops.length === 0) fail(path, `needs at least one operator (${OPERATORS.join(", ")})`);
    const parts = ops.map(([op, operand]) => {
      const opPath = keyPath(path, op);
      if (!isOperator(op)) return fail(opPath, `unknown operator; use ${OPERATORS.join(", ")}`);
      return this.condition(v, op, operand, opPath);
    });
    return parts.length === 1 ? (parts[0] as string) : `(${parts.join(" AND ")})`;
  }

  /** The reserved `categories` key: set membership over a jsonb array of names. */
  private categories(column: string, value: unknown, path: string): string {
    if (Array.isArray(value)) fail(path, 'equality needs a single category; use "in" for a list');
    const ops = isObject(value) ? Object.entries(value) : [["eq", value] as const];
    if (ops.length === 0)
      fail(path, `needs at least one operator (${CATEGORY_OPERATORS.join(", ")})`);
    const parts = ops.map(([op, operand]) => {
      const opPath = isObject(value) ? keyPath(path, op) : path;
      if (!isOperator(op) || !CATEGORY_OPERATORS.includes(op)) {
        return fail(opPath, `categories take ${CATEGORY_OPERATORS.join(", ")}`);
      }
      this.count(opPath);
      const name = (x: unknown, p: string) => {
        if (typeof x !== "string") return fail(p, "a category is a name (a string)");
        checkText(x, MAX_TEXT_LENGTH, "category name", p);
        return x;
      };
      if (op === "in" || op === "nin") {
        if (!Array.isArray(operand) || operand.length === 0 || operand.length > MAX_LIST) {
          return fail(opPath, `"${op}" needs a list of 1 to ${MAX_LIST} category names`);
        }
        const names = operand.map((x, i) => name(x, `${opPath}[${i}]`));
        const any = `EXISTS (SELECT 1 FROM jsonb_array_elements(${column}) AS c(filter_cat)
          WHERE filter_cat IN (SELECT jsonb_array_elements(${this.json(names)})))`;
        return op === "in" ? `(${any})` : `(NOT ${any})`;
      }
      const has = `(${column} @> ${this.json([name(operand, opPath)])})`;
      return op === "ne" ? `(NOT ${has})` : has;
    });
    return parts.length === 1 ? (parts[0] as string) : `(${parts.join(" AND ")})`;
  }

  private count(path: string): void {
    this.conditions += 1;
    if (this.conditions > MAX_CONDITIONS) {
      fail(path, `a filter may hold at most ${MAX_CONDITIONS} conditions`);
    }
  }

  private condition(v: string, op: Operator, value: unknown, path: string): string {
    this.count(path);
    switch (op) {
      case "eq":
      case "ne": {
        const sql = this.equals(v, scalar(value, path, `"${op}" needs`));
        return op === "eq" ? sql : `(NOT ${sql})`;
      }
      case "gt":
      case "gte":
      case "lt":
      case "lte": {
        const cmp = COMPARE_SQL[op];
        if (typeof value === "number" && Number.isFinite(value)) {
          return ifType(v, "number", `${v} ${cmp} ${this.json(value)}`);
        }
        if (typeof value !== "string") return fail(path, `"${op}" needs a number or a string`);
        checkText(value, MAX_TEXT_LENGTH, "text value", path);
        return ifType(v, "string", `${text(v)} COLLATE "C" ${cmp} ${text(this.json(value))}`);
      }
      case "in":
      case "nin": {
        if (!Array.isArray(value) || value.length === 0 || value.length > MAX_LIST) {
          return fail(path, `"${op}" needs a list of 1 to ${MAX_LIST} values`);
        }
        const items = value.map((x, i) => scalar(x, `${path}[${i}]`, "list items must be"));
        const found = hasElement(this.json(items), v);
        const sql = items.includes(null) ? `(${v} IS NULL OR ${found})` : `(${found})`;
        return op === "in" ? sql : `(NOT ${sql})`;
      }
      case "contains": {
        const item = scalar(value, path, `"contains" needs`);
        const p = this.json(item);
        const branches = [`WHEN 'array' THEN ${hasElement(v, p)}`];
        if (typeof item === "string") {
          branches.push(`WHEN 'string' THEN strpos(lower(${text(v)}), lower(${text(p)})) > 0`);
        }
        return `(CASE jsonb_typeof(${v}) ${branches.join(" ")} ELSE false END)`;
      }
    }
  }

  private equals(v: string, value: Scalar): string {
    if (value === null) return `(${v} IS NULL OR ${v} = 'null'::jsonb)`;
    return `COALESCE(${v} = ${this.json(value)}, false)`;
  }
}

/**
 * Compiles a metadata filter into SQL. `column` is a trusted SQL expression (e.g. "m.metadata");
 * `firstParam` is the number of the first $n placeholder to use; `options` says what else the
 * filter may address (the reserved `categories` key). The fragment is always true or false (never
 * NULL); `params` hold only text. Throws FilterError for any malformed filter.
 */
export function compileFilter(
  filter: unknown,
  column: string,
  firstParam: number,
  options: FilterOptions = {},
): { sql: string; params: unknown[] } {
  if (!Number.isSafeInteger(firstParam) || firstParam < 1) {
    throw new RangeError(`firstParam must be a positive integer, got ${firstParam}`);
  }
  const compiler = new Compiler(column, firstParam, options);
  const sql = compiler.filter(filter, "filters", 1);
  return { sql, params: compiler.params };
}

/**
 * Checks a request's filter before any work (`filters` absent passes): a malformed one is a 400
 * invalid_filter naming the bad part.
 */
export function checkFilter(filter: unknown, options: FilterOptions = {}): void {
  if (filter === undefined) return;
  try {
    compileFilter(filter, "metadata", 1, options);
  } catch (err) {
    if (err instanceof FilterError) throw new AppError("invalid_filter", err.message, err.path);
    throw err;
  }
}
