import type { Database } from "../db/database.ts";
import { pgliteOf } from "../db/pglite-database.ts";
import { JOB_LOCKS, type Job } from "./job.ts";

/**
 * The tables that need a VACUUM (ANALYZE), by the catalog alone:
 * - never analysed (no planner statistics);
 * - grown or shrunk by more than a tenth of their pages (plus two) since their last VACUUM or
 *   ANALYZE (PostgreSQL's autovacuum re-analyses a table once a tenth of its rows changed; PGlite
 *   keeps no row-change counters, but new rows and row versions show in the size);
 * - or with more than a tenth of their pages (plus two) not marked all-visible in the visibility
 *   map as of then (a data directory analysed but never vacuumed by an older Engram).
 */
const STALE_TABLES = `SELECT format('%I.%I', n.nspname, c.relname) AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    AND (c.reltuples < 0
      OR abs(pg_relation_size(c.oid) / current_setting('block_size')::int - c.relpages)
         > 0.1 * c.relpages + 2
      OR c.relpages - c.relallvisible > 0.1 * c.relpages + 2)
  ORDER BY 1`;

/**
 * Vacuums and analyses the tables that need it (STALE_TABLES), one statement each, and returns
 * how many. PGlite runs no autovacuum, which leaves two gaps:
 * - no planner statistics: the planner never chose the HNSW index (every search became an exact
 *   scan, ~0.5 s at 100k memories);
 * - no visibility map: every index-only scan (the keyword postings of a search) fetched each row
 *   from the heap as well (a keyword search on the low-diversity corpus: p50 21 ms, 12 ms once
 *   vacuumed), and dead row versions were never reclaimed.
 * A VACUUM skips the pages already all-visible, so it costs what changed since the last one, but
 * it holds PGlite's single connection while it runs, and every request waits: tables that did not
 * change are left alone, and a read-only server never pays for it. VACUUM cannot run in a
 * transaction, so it goes to PGlite directly (as its session user, the owner of every table).
 */
export async function vacuumStaleTables(db: Database): Promise<number> {
  const pg = pgliteOf(db);
  if (!pg) throw new Error("vacuumStaleTables is for the embedded database (PGlite)");
  const tables = await db.asOwner((tx) => tx.query<{ name: string }>(STALE_TABLES));
  for (const { name } of tables) await pg.exec(`VACUUM (ANALYZE) ${name}`);
  return tables.length;
}

/** The embedded mode's stand-in for autovacuum (PostgreSQL's own runs in cluster mode). */
export function vacuumEmbeddedJob(opts: { intervalMs: number }): Job {
  return {
    name: "vacuum-embedded",
    lockKey: JOB_LOCKS.vacuumEmbedded,
    intervalMs: opts.intervalMs,
    async run(ctx) {
      return { skipped: false, counts: { tables: await vacuumStaleTables(ctx.db) } };
    },
  };
}
