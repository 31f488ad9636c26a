import { mkdirSync } from "node:fs";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { APP_ROLE, type Database, type Queryable, type TxSettings } from "./database.ts";

function wrap(tx: Transaction | PGlite): Queryable {
  return {
    async query<T>(sql: string, params?: readonly unknown[]) {
      const result = await tx.query<T>(sql, params as unknown[] | undefined);
      return result.rows;
    },
    async exec(sql: string) {
      await tx.exec(sql);
    },
  };
}

/**
 * Embedded Postgres (PGlite + pgvector) persisted to a directory. PGlite is a single session, so
 * transactions are serialized by PGlite's own mutex; role and tenant are set with
 * transaction-local set_config so nothing survives into the next caller's transaction.
 */
export async function openPGliteDatabase(dataDir: string | undefined): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const pg = await PGlite.create({ ...(dataDir ? { dataDir } : {}), extensions: { vector } });
  // PGlite's pages live in this process's memory: a random read costs what a sequential one does.
  // With PostgreSQL's disk default (4) the planner scanned whole tables to join a few hundred ids
  // (a LoCoMo search with every signal: p50 118 ms, 54 ms with this). One session: set once.
  await pg.exec("SET random_page_cost = 1.1");
  let closed = false;

  const inRole = <T>(
    tenantId: string | null,
    fn: (tx: Queryable) => Promise<T>,
    settings: TxSettings = {},
  ) =>
    pg.transaction(async (tx) => {
      // Role, tenant and settings in one statement; names and values as parameters.
      const set = Object.entries({ ...settings, role: APP_ROLE, "app.tenant_id": tenantId ?? "" });
      await tx.query(
        `SELECT ${set.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(", ")}`,
        set.flat(),
      );
      return fn(wrap(tx));
    });

  const database: Database & { pglite: PGlite } = {
    kind: "pglite",
    pglite: pg,
    withTenant: (tenantId, fn, settings) => inRole(tenantId, fn, settings),
    // In-process, COMMIT costs no round trip: only the read-only mode differs.
    readTenant: (tenantId, fn, settings) =>
      inRole(tenantId, fn, { ...settings, transaction_read_only: "on" }),
    withoutTenant: (fn) => inRole(null, fn),
    // In-process: a transaction costs no round trips, and it is what sets the role.
    readWithoutTenant: (sql, params) => inRole(null, (tx) => tx.query(sql, params)),
    asOwner: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    async ping() {
      await pg.query("SELECT 1");
    },
    async close() {
      if (closed) return;
      closed = true;
      await pg.close();
    },
  };
  return database;
}

/** The PGlite instance behind an embedded database, for libraries with their own PGlite adapter (pg-boss). */
export function pgliteOf(db: Database): PGlite | undefined {
  return "pglite" in db ? (db as { pglite: PGlite }).pglite : undefined;
}
