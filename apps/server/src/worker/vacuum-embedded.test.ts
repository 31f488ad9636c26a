import assert from "node:assert/strict";
import { test } from "node:test";
import type { Database } from "../db/database.ts";
import { migrate } from "../db/migrate.ts";
import { openPGliteDatabase } from "../db/pglite-database.ts";
import type { JobContext } from "./job.ts";
import { vacuumEmbeddedJob } from "./vacuum-embedded.ts";

/** One run of the job, as the scheduler makes it. */
const runJob = (db: Database) =>
  vacuumEmbeddedJob({ intervalMs: 1000 }).run({ db } as unknown as JobContext);

test("the embedded vacuum job gives the planner statistics PGlite would never collect, and vacuums only the tables that changed", async () => {
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
    const run = () => runJob(db);
    const first = await run();
    assert.equal(first.skipped, false);
    assert.ok(!first.skipped && (first.counts.tables ?? 0) > 10, "every table, never vacuumed");
    assert.equal(await reltuples(), 0);
    assert.deepEqual(await run(), { skipped: false, counts: { tables: 0 } }, "nothing changed");

    // A table that grows by more than a tenth is vacuumed again; one that grows less is not.
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

test("the embedded vacuum job sets the visibility map, so index-only scans stop reading the heap, also on data only ever analysed", async () => {
  const db = await openPGliteDatabase(undefined);
  try {
    await db.asOwner((tx) =>
      tx.exec(
        `CREATE TABLE postings (lexeme text, id int, PRIMARY KEY (lexeme, id));
         INSERT INTO postings SELECT 'w' || (g % 50), g FROM generate_series(1, 20000) g;
         ANALYZE postings`,
      ),
    );
    const visibility = async () => {
      const [row] = await db.asOwner((tx) =>
        tx.query<{ pages: number; visible: number }>(
          "SELECT relpages AS pages, relallvisible AS visible FROM pg_class WHERE relname = 'postings'",
        ),
      );
      return row;
    };
    const heapFetches = async () => {
      const plan = await db.asOwner(async (tx) => {
        await tx.exec("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off");
        return tx.query<{ "QUERY PLAN": string }>(
          "EXPLAIN (ANALYZE, COSTS OFF) SELECT id FROM postings WHERE lexeme = 'w7'",
        );
      });
      const text = plan.map((r) => r["QUERY PLAN"]).join("\n");
      assert.match(text, /Index Only Scan/);
      return Number(/Heap Fetches: (\d+)/.exec(text)?.[1]);
    };
    // As an older Engram left it: statistics, but no page marked all-visible.
    const before = await visibility();
    assert.ok(before && before.pages > 50 && before.visible === 0, JSON.stringify(before));
    assert.equal(await heapFetches(), 400, "every posting of w7 read from the heap too");

    const run = () => runJob(db);
    const first = await run();
    assert.ok(!first.skipped && (first.counts.tables ?? 0) >= 1);
    const after = await visibility();
    assert.equal(after?.visible, after?.pages, "every page all-visible");
    assert.equal(await heapFetches(), 0);
    assert.deepEqual(await run(), { skipped: false, counts: { tables: 0 } }, "nothing changed");

    // Dead row versions are reclaimed: rows deleted and written again grow the table once (the
    // job then vacuums it), and the next time they reuse the space it freed.
    const size = async () => {
      const [row] = await db.asOwner((tx) =>
        tx.query<{ bytes: number }>("SELECT pg_relation_size('postings')::int AS bytes"),
      );
      return row?.bytes ?? 0;
    };
    const rewriteHalf = () =>
      db.asOwner((tx) =>
        tx.exec(
          `DELETE FROM postings WHERE id > 10000;
           INSERT INTO postings SELECT 'w' || (g % 50), g FROM generate_series(10001, 20000) g`,
        ),
      );
    const initial = await size();
    await rewriteHalf();
    const grown = await size();
    assert.ok(grown > initial * 1.3, `${initial} → ${grown}`);
    assert.deepEqual(await run(), { skipped: false, counts: { tables: 1 } }, "grown by half");
    await rewriteHalf();
    assert.equal(await size(), grown, "the freed space reused");
  } finally {
    await db.close();
  }
});
