import type { Database } from "../db/database.ts";
import { migrate } from "../db/migrate.ts";
import { openPGliteDatabase } from "../db/pglite-database.ts";
import { openPostgresDatabase } from "../db/postgres-database.ts";
import { ensureVectorIndex } from "../db/vector-index.ts";
import { createTestPostgres } from "./test-postgres.ts";

export const TEST_MODEL = { id: "test-model-4", dimension: 4 };

/**
 * Every database backend the store tests run against, migrated and indexed for a 4-d test model:
 * embedded PGlite, and PostgreSQL (scripts/services.sh) in a fresh database per open, dropped on
 * close. PostgreSQL being down fails these tests; it never skips them.
 */
export const testDatabases: { name: string; open: () => Promise<Database> }[] = [
  {
    name: "pglite",
    open: async () => {
      const db = await openPGliteDatabase(undefined);
      await migrate(db);
      await ensureVectorIndex(db, TEST_MODEL);
      return db;
    },
  },
  {
    name: "postgres",
    open: async () => {
      const pg = await createTestPostgres();
      const db = openPostgresDatabase({
        url: pg.appUrl,
        ownerUrl: pg.ownerUrl,
        poolMax: 4,
        statementTimeoutMs: 10_000,
      });
      try {
        await migrate(db);
        await ensureVectorIndex(db, TEST_MODEL);
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
