import assert from "node:assert/strict";
import { test } from "node:test";
import { migrate } from "../db/migrate.ts";
import { openPGliteDatabase } from "../db/pglite-database.ts";
import { analyzeEmbeddedJob } from "./analyze-embedded.ts";
import type { JobContext } from "./job.ts";

test("the embedded analyze job gives the planner statistics PGlite would never collect", async () => {
  const db = await openPGliteDatabase(undefined);
  try {
    await migrate(db);
    const reltuples = async () => {
      const [row] = await db.asOwner((tx) =>
        tx.query<{ n: number }>(
          "SELECT reltuples::float8 AS n FROM pg_class WHERE relname = 'memories'",
        ),
      );
      return row?.n;
    };
    assert.equal(await reltuples(), -1, "never analyzed: no autovacuum in PGlite");
    const job = analyzeEmbeddedJob({ intervalMs: 1000 });
    const outcome = await job.run({ db } as unknown as JobContext);
    assert.deepEqual(outcome, { skipped: false, counts: {} });
    assert.equal(await reltuples(), 0);
  } finally {
    await db.close();
  }
});
