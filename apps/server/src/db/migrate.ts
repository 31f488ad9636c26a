import { readdirSync, readFileSync } from "node:fs";
import type { Database } from "./database.ts";

const MIGRATIONS_DIR = new URL("./migrations/", import.meta.url);
// Any constant works; it only has to be the same in every Engram process.
export const MIGRATION_LOCK = 72_616_001;

function migrationFiles(): string[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => f.endsWith(".sql"))
    .sort();
}

/**
 * Applies pending migrations in file-name order, each in its own transaction, under an advisory
 * lock so several processes starting at once apply each migration exactly once.
 */
export async function migrate(db: Database): Promise<string[]> {
  const files = migrationFiles();
  return db.asOwner(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await tx.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    const done = new Set(
      (await tx.query<{ name: string }>("SELECT name FROM schema_migrations")).map((r) => r.name),
    );
    const applied: string[] = [];
    for (const file of files) {
      if (done.has(file)) continue;
      const sql = readFileSync(new URL(file, MIGRATIONS_DIR), "utf8");
      await tx.exec(sql);
      await tx.query("INSERT INTO schema_migrations (name) VALUES ($1)", [file]);
      applied.push(file);
    }
    return applied;
  });
}

/**
 * The migrations this build has that the database has not applied, read as the application role
 * (which cannot migrate). A schema too old to let the application role read its migration
 * history counts as all of them.
 */
export async function pendingMigrations(db: Database): Promise<string[]> {
  const files = migrationFiles();
  return db.withoutTenant(async (tx) => {
    const [status] = await tx.query<{ readable: boolean }>(
      `SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN false
                   ELSE has_table_privilege('schema_migrations', 'SELECT') END AS readable`,
    );
    if (!status?.readable) return files;
    const done = new Set(
      (await tx.query<{ name: string }>("SELECT name FROM schema_migrations")).map((r) => r.name),
    );
    return files.filter((f) => !done.has(f));
  });
}
