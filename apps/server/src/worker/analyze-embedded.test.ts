import assert from "node:assert/strict";
import { test } from "node:test";
import { migrate } from "../db/migrate.ts";
import { openPGliteDatabase } from "../db/pglite-database.ts";
import { analyzeEmbeddedJob } from "./analyze-embedded.ts";
import type { JobContext } from "./job.ts";

test("the embedded analyze job gives the planner statistics PGlite would never collect, and analyses only the tables that changed", async () => {
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
    const run = () => job.run({ db } as unknown as JobContext);
    const first = await run();
    assert.equal(first.skipped, false);
    assert.ok(!first.skipped && (first.counts.tables ?? 0) > 10, "every table, never analysed");
    assert.equal(await reltuples(), 0);
    assert.deepEqual(await run(), { skipped: false, counts: { tables: 0 } }, "nothing changed");

    // A table that grows by more than a tenth is analysed again; one that grows less is not.
    await db.asOwner((tx) =>
      tx.exec(
        "CREATE TABLE grows (id int, t text); INSERT INTO grows SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g",
      ),
    );
    assert.deepEqual(await run(), { skipped: false, counts: { tables: 1 } });
    await db.asOwner((tx) =>
      tx.exec("INSERT INTO grows SELECT g, repeat('x', 100) FROM generate_series(1, 250) g"),
    );
    assert.deepEqual(await run(), { skipped: false, counts: { tables: 0 } }, "+5 %");
    await db.asOwner((tx) =>
      tx.exec("INSERT INTO grows SELECT g, repeat('x', 100) FROM generate_series(1, 750) g"),
    );
    assert.deepEqual(await run(), { skipped: false, counts: { tables: 1 } }, "+20 %");
    const [grows] = await db.asOwner((tx) =>
      tx.query<{ n: number }>(
        "SELECT reltuples::float8 AS n FROM pg_class WHERE relname = 'grows'",
      ),
    );
    assert.equal(grows?.n, 6000);
  } finally {
    await db.close();
  }
});
