import pg from "pg";
import { AppError } from "../lib/errors.ts";
import type { Database, Queryable, TxSettings } from "./database.ts";

export interface PostgresOptions {
  /** The application role's connection (DATABASE_URL); undefined for an owner-only handle. */
  url: string | undefined;
  /** The schema owner's connection (ENGRAM_DATABASE_OWNER_URL), for migrations only. */
  ownerUrl: string | undefined;
  poolMax: number;
  statementTimeoutMs: number;
}

const CONNECT_TIMEOUT_MS = 5_000;

// Failures of the connection rather than of the statement: the server shut down or crashed
// (57P01, 57P02), is starting (57P03), has no free slot (53300), or class 08.
const CONNECTION_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300"]);
const SOCKET_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);
// node-postgres reports a lost socket or a pool connect timeout as plain Errors without a code.
const CLIENT_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

/** True when err means the connection is gone (or could not be made), not that the SQL failed. */
function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") {
    if (SOCKET_ERRORS.has(code) || CONNECTION_SQLSTATES.has(code) || code.startsWith("08")) {
      return true;
    }
  }
  if (err instanceof AggregateError) return err.errors.some(isConnectionError);
  return CLIENT_MESSAGES.test(err.message);
}

/** Connection failures and statement timeouts become a 503 the client may retry. */
function toAppError(err: unknown): unknown {
  if (err instanceof AppError) return err;
  let mapped: AppError | undefined;
  if (isConnectionError(err)) {
    mapped = new AppError("service_unavailable", "The database is unavailable; retry shortly");
  } else if (err instanceof Error && (err as { code?: unknown }).code === "57014") {
    mapped = new AppError(
      "service_unavailable",
      "The database did not answer in time; retry shortly",
    );
  }
  if (!mapped) return err;
  mapped.cause = err;
  return mapped;
}

function wrap(client: pg.PoolClient): Queryable {
  return {
    async query<T>(sql: string, params?: readonly unknown[]) {
      const result = await client.query(sql, params as unknown[] | undefined);
      return result.rows as T[];
    },
    async exec(sql: string) {
      await client.query(sql); // no parameters: the simple-query protocol, several statements
    },
  };
}

function createPool(url: string, max: number, timeoutMs: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    application_name: "engram",
    // Sent as startup parameters, so they hold for every statement on every pooled connection.
    ...(timeoutMs > 0
      ? { statement_timeout: timeoutMs, idle_in_transaction_session_timeout: timeoutMs }
      : {}),
  });
  // An idle connection dropped by the server (restart, failover) is reported here; the pool has
  // already discarded it and the next checkout connects afresh. Without a listener it would crash
  // the process.
  pool.on("error", () => {});
  return pool;
}

/**
 * Runs fn in one transaction on a pooled connection. The tenant context is set with
 * set_config(..., true), which lasts until COMMIT or ROLLBACK: a session-level SET would stay on
 * the connection and leak into whichever request checks it out next.
 *
 * A read-only transaction (BEGIN READ ONLY: a write in it fails) answers as soon as fn has: its
 * COMMIT, which can change nothing, goes out after, and the connection returns to the pool once
 * it is done. The caller saves that round trip; the next user of the connection cannot overtake
 * it (the connection is not back in the pool before).
 */
async function transaction<T>(
  pool: pg.Pool,
  tenantId: string | null,
  fn: (tx: Queryable) => Promise<T>,
  opts: { settings?: TxSettings | undefined; readOnly?: boolean } = {},
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw toAppError(err);
  }
  // A connection lost while checked out is reported as an 'error' event (besides failing the
  // running query); listen so it cannot crash the process, and destroy the client on release.
  let broken = false;
  const onError = () => {
    broken = true;
  };
  client.on("error", onError);
  const release = () => {
    client.off("error", onError);
    client.release(broken);
  };
  let released = false;
  try {
    // One round trip: BEGIN, the tenant context and the settings go as one simple-protocol
    // script (values as escaped literals, as a parameter cannot be sent with two statements).
    const settings = opts.settings ?? {};
    const set = Object.entries(
      tenantId === null ? settings : { ...settings, "app.tenant_id": tenantId },
    ).map(
      ([name, value]) =>
        `set_config(${client.escapeLiteral(name)}, ${client.escapeLiteral(value)}, true)`,
    );
    const begin = opts.readOnly ? "BEGIN READ ONLY" : "BEGIN";
    await client.query(set.length === 0 ? begin : `${begin}; SELECT ${set.join(", ")}`);
    const result = await fn(wrap(client));
    if (opts.readOnly) {
      released = true;
      client.query("COMMIT").then(release, () => {
        broken = true;
        release();
      });
      return result;
    }
    await client.query("COMMIT");
    return result;
  } catch (err) {
    if (!broken && !isConnectionError(err)) {
      await client.query("ROLLBACK").catch(() => {
        broken = true;
      });
    } else {
      broken = true;
    }
    throw toAppError(err);
  } finally {
    if (!released) release();
  }
}

/**
 * PostgreSQL (cluster mode). Requests run on a pool connected as the application role, which
 * owns nothing and cannot bypass row-level security. The owner connection exists only when
 * configured and is used for migrations and index builds, never for requests.
 */
export function openPostgresDatabase(opts: PostgresOptions): Database {
  const app = opts.url ? createPool(opts.url, opts.poolMax, opts.statementTimeoutMs) : undefined;
  // No statement timeout for the owner: an HNSW build over many rows takes minutes.
  const owner = opts.ownerUrl ? createPool(opts.ownerUrl, 1, 0) : undefined;
  let closing: Promise<unknown> | undefined;
  const appPool = () => {
    if (!app) throw new Error("DATABASE_URL is not set: no application-role connection");
    return app;
  };

  return {
    kind: "postgres",
    withTenant: async (tenantId, fn, settings) =>
      transaction(appPool(), tenantId, fn, { settings }),
    readTenant: async (tenantId, fn, settings) =>
      transaction(appPool(), tenantId, fn, { settings, readOnly: true }),
    // An empty tenant id matches no row, exactly like an unset one.
    withoutTenant: async (fn) => transaction(appPool(), "", fn),
    // No BEGIN/COMMIT: the statement is its own transaction. The pool's connections never hold a
    // session-level tenant (transaction() sets it transaction-locally), so none applies here.
    async readWithoutTenant<T>(sql: string, params: readonly unknown[]) {
      try {
        return (await appPool().query(sql, params as unknown[])).rows as T[];
      } catch (err) {
        throw toAppError(err);
      }
    },
    asOwner: async (fn) => {
      if (!owner) {
        throw new Error(
          "ENGRAM_DATABASE_OWNER_URL is not set: migrations and index builds run as the schema owner",
        );
      }
      return transaction(owner, null, fn);
    },
    async ping() {
      const pool = app ?? owner;
      if (!pool) throw new Error("no database connection is configured");
      try {
        await pool.query("SELECT 1");
      } catch (err) {
        throw toAppError(err);
      }
    },
    async close() {
      closing ??= Promise.all([app?.end(), owner?.end()]);
      await closing;
    },
  };
}
