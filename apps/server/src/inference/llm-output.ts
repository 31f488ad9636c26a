import { readFileSync } from "node:fs";
import { ENTITY_TYPES } from "@engram/contract";
import Type, { type Static, type TSchema } from "typebox";
import Value from "typebox/value";

/** A prompt file's text and version (its file name without `.md`, e.g. "extract.v1"). */
interface Prompt {
  version: string;
  text: string;
}

export interface LlmPrompts {
  extract: Prompt;
  reconcile: Prompt;
}

/** The prompt versions in use; a changed prompt is a new file, so logged versions stay meaningful. */
const PROMPT_FILES = { extract: "extract.v2", reconcile: "reconcile.v1" } as const;

/** Reads the prompt files (once, at start). */
export function loadPrompts(): LlmPrompts {
  const read = (version: string): Prompt => ({
    version,
    text: readFileSync(new URL(`./prompts/${version}.md`, import.meta.url), "utf8"),
  });
  return { extract: read(PROMPT_FILES.extract), reconcile: read(PROMPT_FILES.reconcile) };
}

// The answer schemas are sent as OpenAI strict structured output, which wants every property
// required (optional ones nullable), no additional properties, and few keywords beyond types and
// enums: bounds the schema cannot carry are checked in code after it (llm-engine.ts).
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const closed = { additionalProperties: false } as const;

const AttributeOutput = Type.Object(
  { subject: Type.String(), key: Type.String(), value: Type.String() },
  closed,
);

/** extract.v2: typed entities, and relations between them with their validity. */
const EntityOutput = Type.Object(
  {
    name: Type.String(),
    type: Type.String({ enum: [...ENTITY_TYPES] }),
    aliases: Type.Array(Type.String()),
  },
  closed,
);

const RelationOutput = Type.Object(
  {
    subject: Type.String(),
    predicate: Type.String(),
    object: Type.String(),
    valid_from: Nullable(Type.String()),
    valid_to: Nullable(Type.String()),
  },
  closed,
);

const factProperties = {
  text: Type.String(),
  source_indexes: Type.Array(Type.Integer()),
  valid_from: Nullable(Type.String()),
  attribute: Nullable(AttributeOutput),
  negates: Type.Boolean(),
  entities: Type.Array(EntityOutput),
  relations: Type.Array(RelationOutput),
};

const ExtractOutput = Type.Object(
  {
    facts: Type.Array(
      Type.Object(
        { ...factProperties, categories: Type.Optional(Type.Array(Type.String())) },
        closed,
      ),
    ),
  },
  closed,
);
export type ExtractOutput = Static<typeof ExtractOutput>;

/** The extraction answer's schema; `categories` only when there are names to choose from. */
export function extractSchema(categoryNames: string[]): { name: string; schema: TSchema } {
  const Fact =
    categoryNames.length === 0
      ? Type.Object(factProperties, closed)
      : Type.Object(
          {
            ...factProperties,
            categories: Type.Array(Type.String({ enum: [...new Set(categoryNames)] })),
          },
          closed,
        );
  return { name: "engram_extract", schema: Type.Object({ facts: Type.Array(Fact) }, closed) };
}

const ReconcileOutput = Type.Object(
  {
    event: Type.String({ enum: ["ADD", "UPDATE", "DELETE", "NOOP"] }),
    target_id: Nullable(Type.String()),
    supersede: Type.Boolean(),
    text: Type.String(),
    reason: Type.String(),
  },
  closed,
);
export type ReconcileOutput = Static<typeof ReconcileOutput>;

export const RECONCILE_SCHEMA = { name: "engram_reconcile", schema: ReconcileOutput };

/**
 * Parses a model's answer and checks it against the schema it was sent, then the step's own
 * checks. Says why it fails in words the model (asked again) and the fallback reason can use.
 */
export function checkOutput<T>(
  content: string,
  schema: TSchema,
  check: (data: unknown) => { ok: true; value: T } | { ok: false; why: string },
): { ok: true; value: T } | { ok: false; why: string } {
  let data: unknown;
  try {
    // Servers that do not enforce the schema often wrap JSON in a Markdown code fence.
    data = JSON.parse(content.replace(/^\s*```(?:json)?\s*\n([\s\S]*?)\n\s*```\s*$/, "$1"));
  } catch {
    return { ok: false, why: "the answer is not JSON" };
  }
  const first = Value.Errors(schema, data)[0];
  if (first) return { ok: false, why: `${first.instancePath || "/"} ${first.message}` };
  const unstorable = unstorableAt(data, "");
  if (unstorable !== undefined) {
    return {
      ok: false,
      why: `${unstorable || "/"} holds a NUL character or an unpaired surrogate`,
    };
  }
  return check(data);
}

/** The path of a string PostgreSQL would refuse (NUL) or alter (unpaired surrogates), if any. */
function unstorableAt(data: unknown, path: string): string | undefined {
  if (typeof data === "string") {
    return data.isWellFormed() && !data.includes("\u0000") ? undefined : path;
  }
  if (typeof data !== "object" || data === null) return undefined;
  for (const [key, value] of Object.entries(data)) {
    const found = unstorableAt(value, `${path}/${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}
