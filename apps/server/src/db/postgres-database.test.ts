import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { AppError } from "../lib/errors.ts";
import { createMemoryStore } from "../memories/memory-store.ts";
import { axis, draftMemory, projectOf, seedTenant, TEST_MODEL } from "../testing/test-databases.ts";
import { createTestPostgres, type TestPostgres } from "../testing/test-postgres.ts";
import type { Database, Queryable } from "./database.ts";
import { migrate } from "./migrate.ts";
import { migrateDatabase, prepareSchema } from "./open-database.ts";
import { openPostgresDatabase, type PostgresOptions } from "./postgres-database.ts";

const TENANT_TABLES = ["tenants", "api_keys", "memories", "memory_history", "idempotency_keys"];
const PROBE =
  "SELECT pg_backend_pid() AS pid, current_setting('app.tenant_id', true) AS t, current_user AS u";

const isUnavailable = (err: unknown) =>
  err instanceof AppError && err.code === "service_unavailable" && err.status === 503;

describe("PostgreSQL adapter", () => {
  let pgdb: TestPostgres;
  let db: Database;
  let a: string;
  let b: string;
  const opened: Database[] = [];
  const open = (over: Partial<PostgresOptions> = {}) => {
    const handle = openPostgresDatabase({
      url: pgdb.appUrl,
      ownerUrl: pgdb.ownerUrl,
      poolMax: 1,
      statementTimeoutMs: 5_000,
      ...over,
    });
    opened.push(handle);
    return handle;
  };
  /** A connection of the application role's own, bypassing the adapter entirely. */
  const rawApp = async () => {
    const client = new pg.Client({ connectionString: pgdb.appUrl });
    await client.connect();
    return client;
  };

  before(async () => {
    pgdb = await createTestPostgres();
    db = open();
    await migrateDatabase(db, TEST_MODEL);
    a = await seedTenant(db, "a");
    b = await seedTenant(db, "b");
    const store = createMemoryStore(db, TEST_MODEL);
    for (const t of [a, b]) {
      await store.insertMemories(t, projectOf(t), [
        draftMemory(`memory of ${t}`, axis(0), { userId: "u" }),
      ]);
    }
  });
  after(async () => {
    for (const handle of opened) await handle.close();
    await pgdb?.drop();
  });

  describe("row-level security through a pool", () => {
    test("one pooled connection used for A, then B, then no tenant never carries A's context", async () => {
      // Pool max 1: every transaction below runs on the same server session (same backend pid).
      const inA = await db.withTenant(a, (tx) => tx.query<{ pid: number; t: string }>(PROBE));
      const inB = await db.withTenant(b, (tx) => tx.query<{ pid: number; t: string }>(PROBE));
      const none = await db.withoutTenant((tx) => tx.query<{ pid: number; t: string }>(PROBE));
      assert.equal(inA[0]?.t, a);
      assert.equal(inB[0]?.t, b);
      assert.equal(none[0]?.t, "");
      assert.equal(inB[0]?.pid, inA[0]?.pid);
      assert.equal(none[0]?.pid, inA[0]?.pid);

      const seenByB = await db.withTenant(b, (tx) =>
        tx.query<{ tenant_id: string }>("SELECT DISTINCT tenant_id FROM memories"),
      );
      assert.deepEqual(
        seenByB.map((r) => r.tenant_id),
        [b],
      );
    });

    test("read transactions answer before their COMMIT: the next user of the one connection waits for it and never sees their context", async () => {
      const probe = (tx: Queryable) =>
        tx.query<{ pid: number; t: string; ro: string }>(
          `${PROBE}, current_setting('transaction_read_only') AS ro`,
        );
      // Not awaited one by one: each starts while the previous COMMIT may still be on its way.
      const reads = await Promise.all(
        Array.from({ length: 10 }, (_, i) => db.readTenant(i % 2 ? a : b, probe)),
      );
      reads.forEach(([r], i) => {
        assert.equal(r?.t, i % 2 ? a : b);
        assert.equal(r?.ro, "on");
      });
      const [after] = await db.withoutTenant(probe);
      assert.equal(after?.pid, reads[0]?.[0]?.pid, "still the one pooled connection");
      assert.deepEqual([after?.t, after?.ro], ["", "off"]);
      // A write in a read transaction fails and the connection stays usable.
      await assert.rejects(
        db.readTenant(a, (tx) =>
          tx.query("UPDATE memories SET metadata = '{}' WHERE tenant_id = $1", [a]),
        ),
        /read-only transaction/,
      );
      assert.equal((await db.readTenant(a, probe))[0]?.t, a);
    });

    test("a transaction that fails under A leaves nothing of A on the connection", async () => {
      const [before] = await db.withoutTenant((tx) => tx.query<{ pid: number }>(PROBE));
      await assert.rejects(
        db.withTenant(a, async (tx) => {
          await tx.query("SELECT 1 FROM memories");
          throw new Error("the handler failed");
        }),
        /the handler failed/,
      );
      await assert.rejects(
        db.withTenant(a, (tx) => tx.query("SELECT 1/0")),
        /division by zero/,
      );
      const [next] = await db.withoutTenant((tx) => tx.query<{ pid: number; t: string }>(PROBE));
      assert.equal(next?.pid, before?.pid);
      assert.equal(next?.t, "");
      for (const table of TENANT_TABLES) {
        const [row] = await db.withoutTenant((tx) =>
          tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`),
        );
        assert.equal(row?.n, 0, table);
      }
    });

    test("raw SQL as the application role: no context sees no rows, a context sees no foreign rows", async () => {
      const client = await rawApp();
      try {
        for (const table of TENANT_TABLES) {
          const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${table}`);
          assert.equal(rows[0].n, 0, `${table} without context`);
        }
        await client.query("BEGIN");
        await client.query("SELECT set_config('app.tenant_id', $1, true)", [a]);
        for (const table of TENANT_TABLES) {
          const column = table === "tenants" ? "id" : "tenant_id";
          const { rows } = await client.query(
            `SELECT count(*)::int AS n FROM ${table} WHERE ${column} <> $1`,
            [a],
          );
          assert.equal(rows[0].n, 0, `${table}: foreign rows under A's context`);
        }
        const { rows } = await client.query("SELECT count(*)::int AS n FROM memories");
        assert.equal(rows[0].n, 1);
        await client.query("COMMIT");
        // ...and the transaction-local context is gone once it commits.
        const after = await client.query("SELECT count(*)::int AS n FROM memories");
        assert.equal(after.rows[0].n, 0);
      } finally {
        await client.end();
      }
    });

    test("the application role cannot become the owner or another user", async () => {
      const client = await rawApp();
      try {
        await assert.rejects(client.query("SET ROLE engram_owner"), /permission denied/);
        await assert.rejects(
          client.query("SET SESSION AUTHORIZATION engram_owner"),
          /permission denied/,
        );
      } finally {
        await client.end();
      }
    });
  });

  describe("connection failures", () => {
    test("an unreachable database is a 503 the caller may retry, for requests and /readyz", async () => {
      const down = open({ url: "postgres://engram_app:engram_app@127.0.0.1:1/engram" });
      await assert.rejects(
        down.withTenant(a, (tx) => tx.query("SELECT 1")),
        isUnavailable,
      );
      await assert.rejects(down.ping(), isUnavailable);
    });

    test("a statement over the timeout is a 503 and the connection stays usable", async () => {
      const slow = open({ statementTimeoutMs: 200 });
      await assert.rejects(
        slow.withTenant(a, (tx) => tx.query("SELECT pg_sleep(3)")),
        (err) => isUnavailable(err) && /did not answer in time/.test((err as Error).message),
      );
      const [row] = await slow.withTenant(a, (tx) => tx.query<{ t: string }>(PROBE));
      assert.equal(row?.t, a);
    });

    test("a connection lost mid-transaction is a 503; the pool replaces it", async () => {
      const [first] = await db.withTenant(a, (tx) => tx.query<{ pid: number }>(PROBE));
      await assert.rejects(
        db.withTenant(a, (tx) => tx.query("SELECT pg_terminate_backend(pg_backend_pid())")),
        isUnavailable,
      );
      const [next] = await db.withTenant(a, (tx) => tx.query<{ pid: number; t: string }>(PROBE));
      assert.notEqual(next?.pid, first?.pid);
      assert.equal(next?.t, a);
    });

    test("an idle pooled connection killed by the server does not crash the process", async () => {
      const [first] = await db.withoutTenant((tx) => tx.query<{ pid: number }>(PROBE));
      const client = await rawApp();
      try {
        await client.query("SELECT pg_terminate_backend($1)", [first?.pid]);
      } finally {
        await client.end();
      }
      await new Promise((r) => setTimeout(r, 200)); // let the pool see the socket close
      const [next] = await db.withoutTenant((tx) => tx.query<{ pid: number }>(PROBE));
      assert.notEqual(next?.pid, first?.pid);
    });

    test("owner work needs the owner URL; request work needs DATABASE_URL", async () => {
      await assert.rejects(
        open({ ownerUrl: undefined }).asOwner((tx) => tx.query("SELECT 1")),
        /ENGRAM_DATABASE_OWNER_URL is not set/,
      );
      await assert.rejects(
        open({ url: undefined }).withoutTenant((tx) => tx.query("SELECT 1")),
        /DATABASE_URL is not set/,
      );
    });
  });

  describe("schema", () => {
    test("several processes migrating a fresh database at once apply each migration once", async () => {
      const fresh = await createTestPostgres();
      const handles = [1, 2, 3].map(() =>
        openPostgresDatabase({
          url: fresh.appUrl,
          ownerUrl: fresh.ownerUrl,
          poolMax: 1,
          statementTimeoutMs: 5_000,
        }),
      );
      try {
        const results = await Promise.all(handles.map((h) => migrateDatabase(h, TEST_MODEL)));
        const applied = results.flatMap((r) => r.applied);
        assert.ok(applied.length > 0);
        assert.deepEqual([...applied].sort(), [...new Set(applied)].sort());
        assert.deepEqual(await migrate(handles[0] as Database), []);
        await prepareSchema(handles[0] as Database, TEST_MODEL);
      } finally {
        for (const h of handles) await h.close();
        await fresh.drop();
      }
    });

    test("serving (cluster mode) refuses a schema that `engram migrate` has not brought up to date", async () => {
      const fresh = await createTestPostgres();
      const handle = openPostgresDatabase({
        url: fresh.appUrl,
        ownerUrl: fresh.ownerUrl,
        poolMax: 1,
        statementTimeoutMs: 5_000,
      });
      try {
        await assert.rejects(
          prepareSchema(handle, TEST_MODEL),
          /pending: 0001_init\.sql.*engram migrate/,
        );
        await migrate(handle);
        await assert.rejects(prepareSchema(handle, TEST_MODEL), /no index for test-model-4/);
        await migrateDatabase(handle, TEST_MODEL);
        await prepareSchema(handle, TEST_MODEL);
        // Serving never migrates: the application role could not anyway.
        const [tables] = await handle.withoutTenant((tx) =>
          tx.query<{ n: number }>("SELECT count(*)::int AS n FROM schema_migrations"),
        );
        assert.ok((tables?.n ?? 0) >= 2);
      } finally {
        await handle.close();
        await fresh.drop();
      }
    });

    test("serving refuses a DATABASE_URL that connects as the schema owner", async () => {
      const asOwner = open({ url: pgdb.ownerUrl });
      await assert.rejects(
        prepareSchema(asOwner, TEST_MODEL),
        /DATABASE_URL must connect as the application role engram_app.*engram_owner/,
      );
    });
  });
});
