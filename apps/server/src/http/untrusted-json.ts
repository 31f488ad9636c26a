import secureJson from "secure-json-parse";
import { AppError } from "../lib/errors.ts";

// As Fastify's own JSON body parser: a `__proto__` key, or a `constructor` holding `prototype`,
// is refused rather than parsed into an object that could reach Object.prototype later.
const REFUSE = { protoAction: "error", constructorAction: "error" } as const;

const childPath = (path: string, key: string, inArray: boolean) =>
  inArray ? `${path}[${key}]` : path ? `${path}.${key}` : key;

/**
 * Where parsed JSON holds a key secure-json-parse refuses: the path of the object holding it (as
 * the error handler writes fields: `memories[0].metadata`; "" at the top level) and the key. JSON.parse itself is safe
 * (it defines `__proto__` as a plain own property); the danger is in what code does with it later.
 */
function poisonedKey(value: unknown, base: string): { field: string; key: string } | undefined {
  const stack: [unknown, string][] = [[value, base]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [node, path] = item;
    if (typeof node !== "object" || node === null) continue;
    for (const [key, child] of Object.entries(node)) {
      const holdsPrototype =
        key === "constructor" &&
        typeof child === "object" &&
        child !== null &&
        Object.hasOwn(child, "prototype");
      if (key === "__proto__" || holdsPrototype) return { field: path, key };
      stack.push([child, childPath(path, key, Array.isArray(node))]);
    }
  }
  return undefined;
}

function refusedKey(found: { field: string; key: string }): AppError {
  // At the top level, the key itself is the field.
  const where = found.field ? `"${found.field}"` : "The request";
  return new AppError(
    "validation_failed",
    `${where} has a key "${found.key}", which is not allowed`,
    found.field || found.key,
  );
}

/** The refused key in JSON text, if it parses at all (called only when secure parsing failed). */
function findRefused(text: string, base: string) {
  try {
    return poisonedKey(JSON.parse(text), base);
  } catch {
    return undefined;
  }
}

/**
 * The 400 naming the field for a JSON body that Fastify's parser refused for a prototype key, or
 * undefined when the body is not valid JSON at all (that stays invalid_json).
 */
export function refusedJsonBody(text: string): AppError | undefined {
  const found = findRefused(text, "");
  return found && refusedKey(found);
}

/** Parses a JSON-valued text field (a multipart part) with the same refusals as a JSON body. */
export function parseJsonField(text: string, field: string): unknown {
  try {
    return secureJson.parse(text, undefined, REFUSE);
  } catch {
    const found = findRefused(text, field);
    throw found
      ? refusedKey(found)
      : new AppError("validation_failed", `"${field}" must be JSON`, field);
  }
}
