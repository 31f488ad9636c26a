import type { Database } from "../db/database.ts";
import { JOB_LOCKS, type Job } from "./job.ts";

/**
 * The tables whose planner statistics are missing or stale: never analysed, or grown or shrunk by
 * more than a tenth of their pages (plus two) since their last ANALYZE. PostgreSQL's autovacuum
 * re-analyses a table once a tenth of its rows changed; PGlite keeps no row-change counters, but
 * its tables are never vacuumed, so inserts and updates (new row versions) show in their size.
 */
const STALE_TABLES = `SELECT format('%I.%I', n.nspname, c.relname) AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    AND (c.reltuples < 0
      OR abs(pg_relation_size(c.oid) / current_setting('block_size')::int - c.relpages)
         > 0.1 * c.relpages + 2)
  ORDER BY 1`;

/**
 * Refreshes the planner statistics of the tables that need it (STALE_TABLES), each in its own
 * transaction, and returns how many it analysed. In embedded mode PGlite runs no autovacuum, and
 * without statistics the planner never chooses the HNSW index (every search became an exact scan,
 * ~0.5 s at 100k memories). ANALYZE samples a bounded number of rows, but at 100k memories that
 * still holds PGlite's single connection for about a second, so every request waits: tables that
 * did not change are left alone, and a read-only server never pays for it.
 */
export async function analyzeStaleTables(db: Database): Promise<number> {
  const tables = await db.asOwner((tx) => tx.query<{ name: string }>(STALE_TABLES));
  for (const { name } of tables) await db.asOwner((tx) => tx.exec(`ANALYZE ${name}`));
  return tables.length;
}

/** The embedded mode's stand-in for autovacuum's ANALYZE (PostgreSQL's does it in cluster mode). */
export function analyzeEmbeddedJob(opts: { intervalMs: number }): Job {
  return {
    name: "analyze-embedded",
    lockKey: JOB_LOCKS.analyzeEmbedded,
    intervalMs: opts.intervalMs,
    async run(ctx) {
      return { skipped: false, counts: { tables: await analyzeStaleTables(ctx.db) } };
    },
  };
}
