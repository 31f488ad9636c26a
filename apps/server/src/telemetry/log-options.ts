import { type LoggerOptions, stdSerializers } from "pino";

/**
 * The fields of a logged error that are kept. Everything else an error object carries is dropped:
 * PGlite's errors carry the failed statement's `query` and `params` (a tenant id, a filename, a
 * document's metadata, a query vector), node-postgres's carry `detail` ("Failing row contains
 * (…)", "Key (…)=(…) already exists") and `where`, and other libraries attach request payloads.
 * Logs are read by operators, not tenants: they get what went wrong and where, never the data.
 */
const KEPT = ["type", "message", "stack", "code", "statusCode"] as const;
/** A cause chain (or an AggregateError's errors) deeper than this is cut. */
const MAX_DEPTH = 4;

type Serialized = Record<string, unknown>;

function allowListed(err: unknown, depth: number): Serialized | undefined {
  if (err === null || err === undefined) return undefined;
  const full = stdSerializers.err(err as Error) as unknown;
  if (typeof full !== "object" || full === null) return { message: String(full) };
  const all = full as Serialized;
  const kept: Serialized = {};
  for (const key of KEPT) if (all[key] !== undefined) kept[key] = all[key];
  if (depth < MAX_DEPTH) {
    const raw = err as { cause?: unknown; errors?: unknown };
    if (raw.cause instanceof Error) kept.cause = allowListed(raw.cause, depth + 1);
    if (Array.isArray(raw.errors)) {
      kept.errors = raw.errors.slice(0, 10).map((e) => allowListed(e, depth + 1));
    }
  }
  return kept;
}

/** pino's `err` serializer with everything but type, message, code and stack taken out. */
function serializeError(err: unknown): Serialized | undefined {
  return allowListed(err, 0);
}

/**
 * The options of every Engram logger (the API's, through Fastify, and `engram worker`'s): the
 * level, credentials redacted from request logs, and errors serialized without their payloads.
 */
export function logOptions(level: string, name?: string): LoggerOptions {
  return {
    level,
    ...(name ? { name } : {}),
    redact: ["req.headers.authorization", "req.headers.cookie"],
    serializers: { err: serializeError },
  };
}
