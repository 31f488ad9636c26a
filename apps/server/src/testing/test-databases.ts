import { readdirSync, readFileSync } from "node:fs";
import type { Database } from "../db/database.ts";
import { migrate } from "../db/migrate.ts";
import { openPGliteDatabase } from "../db/pglite-database.ts";
import { openPostgresDatabase } from "../db/postgres-database.ts";
import { type EmbeddingModel, ensureVectorIndex } from "../db/vector-index.ts";
import { newId } from "../lib/ids.ts";
import { contentHash } from "../memories/content-hash.ts";
import type { NewMemory } from "../memories/memory-store.ts";
import { createTestPostgres } from "./test-postgres.ts";

export const TEST_MODEL = { id: "test-model-4", dimension: 4 };

/** A test database's connections: the application role, and the owner for migrations. */
const connect = (pg: { appUrl: string; ownerUrl: string }, poolMax: number) =>
  openPostgresDatabase({
    url: pg.appUrl,
    ownerUrl: pg.ownerUrl,
    poolMax,
    statementTimeoutMs: 10_000,
  });

/**
 * A migrated database on `backend`, indexed for `model` (the 4-d test model unless a benchmark
 * names its own): embedded PGlite, or PostgreSQL (scripts/services.sh) in a fresh database that
 * close() drops. PostgreSQL being down fails the caller; it never skips.
 */
export async function openTestDatabase(
  backend: "pglite" | "postgres",
  model: EmbeddingModel = TEST_MODEL,
): Promise<Database> {
  if (backend === "pglite") {
    const db = await openPGliteDatabase(undefined);
    await migrate(db);
    await ensureVectorIndex(db, model);
    return db;
  }
  const pg = await createTestPostgres();
  const db = connect(pg, 4);
  try {
    await migrate(db);
    await ensureVectorIndex(db, model);
  } catch (err) {
    await db.close();
    await pg.drop();
    throw err;
  }
  return {
    ...db,
    async close() {
      await db.close();
      await pg.drop();
    },
  };
}

/** Every database backend the store tests run against (see openTestDatabase). */
export const testDatabases = (["pglite", "postgres"] as const).map((name) => ({
  name,
  open: () => openTestDatabase(name),
}));

/** A database at an older schema, for migration tests: migration files applied a range at a time. */
export interface PartlyMigrated {
  db: Database;
  /** Applies, as the schema owner, the migration files whose names sort before `prefix`. */
  applyBefore(prefix: string): Promise<void>;
  /** Applies the migration files whose names sort at or after `prefix`. */
  applyFrom(prefix: string): Promise<void>;
  close(): Promise<void>;
}

const MIGRATIONS_DIR = new URL("../db/migrations/", import.meta.url);

async function partlyMigrated(db: Database, drop?: () => Promise<void>): Promise<PartlyMigrated> {
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((f) => f.endsWith(".sql"))
    .sort();
  const apply = async (names: string[]) => {
    for (const f of names) {
      await db.asOwner((tx) => tx.exec(readFileSync(new URL(f, MIGRATIONS_DIR), "utf8")));
    }
  };
  // As migrate() does before the first file (0002 grants on it).
  await db.asOwner((tx) =>
    tx.exec("CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz)"),
  );
  return {
    db,
    applyBefore: (prefix) => apply(files.filter((f) => f < prefix)),
    applyFrom: (prefix) => apply(files.filter((f) => f >= prefix)),
    async close() {
      await db.close();
      await drop?.();
    },
  };
}

/**
 * Empty databases for migration tests: PGlite (migrating as a superuser) and PostgreSQL migrating
 * as an owner that is no superuser, so FORCE ROW LEVEL SECURITY applies to the backfills.
 */
export const migrationBackends: { name: string; open: () => Promise<PartlyMigrated> }[] = [
  { name: "pglite", open: async () => partlyMigrated(await openPGliteDatabase(undefined)) },
  {
    name: "postgres (owner is no superuser)",
    open: async () => {
      const pg = await createTestPostgres();
      return partlyMigrated(connect(pg, 2), pg.drop);
    },
  },
];

/** A unit 4-d vector literal pointing mostly along axis `i`. */
export function axis(i: number, wobble = 0): string {
  const v = [0.05, 0.05, 0.05, 0.05];
  v[i % 4] = 1;
  v[(i + 1) % 4] = (v[(i + 1) % 4] as number) + wobble;
  const n = Math.hypot(...v);
  return `[${v.map((x) => x / n).join(",")}]`;
}

/** The default project id seedTenant gives a tenant (derived from its id, for brevity in tests). */
export function projectOf(tenantId: string): string {
  return `prj_${tenantId.slice(4)}`;
}

/** A tenant with its default project and usage row, written straight through the store's tables. */
export async function seedTenant(db: Database, name = "t"): Promise<string> {
  const id = newId("ten");
  await db.withTenant(id, async (tx) => {
    await tx.query("INSERT INTO tenants (id, name) VALUES ($1, $2)", [id, name]);
    await tx.query(
      "INSERT INTO projects (id, tenant_id, name, is_default) VALUES ($1, $2, 'default', true)",
      [projectOf(id), id],
    );
    await tx.query("INSERT INTO tenant_usage (tenant_id) VALUES ($1)", [id]);
  });
  return id;
}

/** A memory row for the store, already "embedded" with the given test vector. */
export function draftMemory(
  text: string,
  embedding: string,
  over: Partial<NewMemory> = {},
): NewMemory {
  return {
    id: newId("mem"),
    memory: text,
    role: null,
    userId: "u1",
    agentId: null,
    sessionId: null,
    metadata: {},
    contentHash: contentHash(text),
    occurredAt: null,
    embedding,
    ...over,
  };
}
