import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { APP_ROLE, type Database } from "./database.ts";
import { migrate, pendingMigrations } from "./migrate.ts";
import { openPGliteDatabase } from "./pglite-database.ts";
import { openPostgresDatabase } from "./postgres-database.ts";
import { type EmbeddingModel, ensureVectorIndex, hasVectorIndex } from "./vector-index.ts";

/** PostgreSQL (cluster mode) when DATABASE_URL is set, else embedded PGlite in ENGRAM_DATA_DIR. */
export async function openDatabase(config: Config): Promise<Database> {
  if (!config.databaseUrl && !config.databaseOwnerUrl) {
    return openPGliteDatabase(join(config.dataDir, "pgdata"));
  }
  return openPostgresDatabase({
    url: config.databaseUrl,
    ownerUrl: config.databaseOwnerUrl,
    poolMax: config.dbPoolMax,
    statementTimeoutMs: config.dbStatementTimeoutMs,
  });
}

/** `engram migrate`: applies pending migrations and builds the model's vector index, as the owner. */
export async function migrateDatabase(db: Database, model: EmbeddingModel) {
  if (db.kind === "postgres") {
    // Creating roles is the operator's job on PostgreSQL; say so rather than fail in 0001.
    const role = await db.asOwner((tx) =>
      tx.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [APP_ROLE]),
    );
    if (role.length === 0) {
      throw new Error(
        `The application role ${APP_ROLE} does not exist: create it first (see docs/cluster.md)`,
      );
    }
  }
  const applied = await migrate(db);
  const vectorIndex = await ensureVectorIndex(db, model);
  return { database: db.kind, applied, vectorIndex };
}

/** What the schema lacks for this build and model: pending migrations, a missing vector index. */
export async function schemaGaps(
  db: Database,
  model: EmbeddingModel,
): Promise<{ pending: string[]; vectorIndex: boolean }> {
  return { pending: await pendingMigrations(db), vectorIndex: await hasVectorIndex(db, model) };
}

/**
 * Why the connection could bypass row-level security (a superuser, BYPASSRLS, or the schema
 * owner), or undefined when it is the least-privilege application role it must be.
 */
export async function roleProblem(db: Database): Promise<string | undefined> {
  const [role] = await db.withoutTenant((tx) =>
    tx.query<{ name: string; superuser: boolean; bypassrls: boolean; owner: boolean }>(
      `SELECT rolname AS name, rolsuper AS superuser, rolbypassrls AS bypassrls,
              pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'memories'::regclass), 'MEMBER') AS owner
       FROM pg_roles WHERE rolname = current_user`,
    ),
  );
  if (role && !role.superuser && !role.bypassrls && !role.owner) return undefined;
  return `DATABASE_URL must connect as the application role ${APP_ROLE} (no superuser, no BYPASSRLS, not the schema owner); it connects as ${role?.name}`;
}

/**
 * Makes sure the schema is ready before serving. Embedded: migrate on start (one process owns the
 * data). Cluster: the application role cannot migrate, so check that `engram migrate` ran and
 * that DATABASE_URL really is a least-privilege role, and fail fast otherwise.
 */
export async function prepareSchema(db: Database, model: EmbeddingModel): Promise<void> {
  if (db.kind === "pglite") {
    await migrateDatabase(db, model);
    return;
  }
  const { pending, vectorIndex } = await schemaGaps(db, model);
  if (pending.length > 0 || !vectorIndex) {
    const what = pending.length > 0 ? `pending: ${pending.join(", ")}` : `no index for ${model.id}`;
    throw new Error(
      `The database schema is not current (${what}): run \`engram migrate\` with ENGRAM_DATABASE_OWNER_URL, then start again`,
    );
  }
  // Any role problem would let requests bypass row-level security.
  const problem = await roleProblem(db);
  if (problem) throw new Error(problem);
}
