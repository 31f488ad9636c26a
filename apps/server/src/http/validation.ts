import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import type { FastifySchemaCompiler } from "fastify";

/** Deepest JSON nesting accepted anywhere in a request: far beyond real use, far below stack limits. */
const MAX_DEPTH = 64;

const storable = (s: string) => s.isWellFormed() && !s.includes("\u0000");

/**
 * Postgres rejects NUL characters in text and jsonb, unpaired surrogates would be stored as U+FFFD
 * (not verbatim), and very deep nesting overflows JSON.stringify's stack. Schemas cannot express
 * these, so every request part is walked once (iteratively) after the schema passes: a 400 naming
 * the field rather than a 500 later.
 */
function unstorable(data: unknown): ErrorObject | undefined {
  const stack: [unknown, string, number][] = [[data, "", 0]];
  const fail = (instancePath: string, keyword: string, message: string): ErrorObject => ({
    instancePath,
    schemaPath: "",
    keyword,
    params: {},
    message,
  });
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [value, path, depth] = item;
    if (typeof value === "string") {
      if (!storable(value))
        return fail(path, "text", "must be Unicode text without NUL characters");
      continue;
    }
    if (typeof value !== "object" || value === null) continue;
    if (depth >= MAX_DEPTH) return fail(path, "depth", `nests deeper than ${MAX_DEPTH} levels`);
    for (const [key, child] of Object.entries(value)) {
      const childPath = `${path}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
      if (!storable(key))
        return fail(path, "text", "has a key that is not Unicode text without NUL characters");
      stack.push([child, childPath, depth + 1]);
    }
  }
  return undefined;
}

function makeAjv(coerceTypes: boolean | "array"): Ajv {
  const ajv = new Ajv({
    coerceTypes,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
  });
  addFormats.default(ajv);
  return ajv;
}

type Checked = ((data: unknown) => boolean) & { errors: ErrorObject[] | null };

/** The schema's check, then the walk for what schemas cannot express (unstorable()). */
function checked(validate: ValidateFunction): Checked {
  const check = ((data: unknown) => {
    if (!validate(data)) {
      check.errors = validate.errors ?? null;
      return false;
    }
    const bad = unstorable(data);
    check.errors = bad ? [bad] : null;
    return bad === undefined;
  }) as Checked;
  check.errors = null;
  return check;
}

/**
 * Two validators: bodies are validated strictly (no type coercion, unknown fields rejected by the
 * schemas), while query strings and path params are coerced, since everything there is text.
 */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = makeAjv(false);
  const coercing = makeAjv("array");
  return ({ schema, httpPart }) =>
    checked((httpPart === "body" ? strict : coercing).compile(schema as object)) as ReturnType<
      FastifySchemaCompiler<unknown>
    >;
}

/** The error Fastify raises for a body that fails its schema; the error handler names the field. */
class BodyValidationError extends Error {
  readonly validation: ErrorObject[];
  readonly statusCode = 400;
  constructor(
    errors: ErrorObject[],
    /** What a problem names when the error is about the whole value rather than one field. */
    readonly validationContext: string,
  ) {
    super(`The request ${validationContext} is not valid`);
    this.validation = errors;
  }
}

const bodyAjv = makeAjv(false);

/**
 * The body validator of the routes, for request parts Fastify does not validate itself (the
 * fields of a multipart upload): the same strict schema check and the same unstorable() walk, so
 * the same input gets the same 400 whichever way it is sent (an MCP tool's arguments too, named
 * `part`). Throws BodyValidationError.
 */
export function bodyValidator<T>(schema: object, part = "body"): (data: unknown) => T {
  const check = checked(bodyAjv.compile(schema));
  return (data) => {
    if (!check(data)) throw new BodyValidationError(check.errors ?? [], part);
    return data as T;
  };
}
