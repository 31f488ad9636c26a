import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Database } from "../db/database.ts";
import {
  expireIdempotencyKeys,
  findIdempotentResponse,
  type IdempotencyRequest,
  saveIdempotentResponse,
} from "../db/idempotency.ts";
import { openPGliteDatabase } from "../db/pglite-database.ts";
import { clientKey } from "../testing/http.ts";
import { runProcess } from "../testing/run-process.ts";
import { seedTenant, testDatabases } from "../testing/test-databases.ts";
import { createTestPostgres } from "../testing/test-postgres.ts";
import { bareEngramEnv, ENGRAM_CLI, startTestServer, tempDir } from "../testing/test-server.ts";
import { EXPIRY_BATCH, expireIdempotencyKeysJob } from "./expire-idempotency-keys.ts";
import { exclusiveRunner, type Job, type JobContext, type JobLogger } from "./job.ts";
import { startScheduler } from "./scheduler.ts";

const HOUR = 3600;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const silent: JobLogger = { debug() {}, info() {}, warn() {}, error() {} };

function request(key: string, body = "body", maxAgeS = HOUR): IdempotencyRequest {
  return { key, requestHash: Buffer.from(body), maxAgeS };
}

for (const backend of testDatabases) {
  describe(`Idempotency-Key expiry on ${backend.name}`, () => {
    let db: Database;
    before(async () => {
      db = await backend.open();
    });
    after(() => db.close());

    const newTenant = async () => await seedTenant(db, "expiry");
    const save = (t: string, req: IdempotencyRequest, response: unknown = { ok: req.key }) =>
      db.withTenant(t, (tx) => saveIdempotentResponse(tx, t, req, 201, response));
    const find = (t: string, req: IdempotencyRequest) =>
      db.withTenant(t, (tx) => findIdempotentResponse(tx, t, req));
    /** Backdates a record, as the application role under its tenant's context. */
    const age = (t: string, key: string, seconds: number) =>
      db.withTenant(t, (tx) =>
        tx.query(
          "UPDATE idempotency_keys SET created_at = now() - make_interval(secs => $2) WHERE key = $1",
          [key, seconds],
        ),
      );
    const keysOf = async (t: string) =>
      (
        await db.withTenant(t, (tx) =>
          tx.query<{ key: string }>("SELECT key FROM idempotency_keys ORDER BY key"),
        )
      ).map((r) => r.key);
    const context = (job: Job): JobContext => ({
      db,
      redis: undefined,
      log: silent,
      signal: new AbortController().signal,
      exclusive: exclusiveRunner(db, job.lockKey),
    });

    test("a record older than the TTL counts as absent, and its key can be used again", async () => {
      const t = await newTenant();
      assert.equal(await save(t, request("k")), true);
      assert.deepEqual(await find(t, request("k")), { ok: "k" });
      // Still within the TTL: another body with the key is the 422 of db/idempotency.ts.
      await assert.rejects(find(t, request("k", "other")), /already used/);

      await age(t, "k", 2 * HOUR);
      assert.equal(await find(t, request("k")), undefined);
      assert.equal(await find(t, request("k", "other")), undefined);
      // A longer TTL still remembers it: the age is the request's, not the row's.
      assert.deepEqual(await find(t, request("k", "body", 3 * HOUR)), { ok: "k" });

      // The next request with the key replaces the expired record...
      assert.equal(await save(t, request("k", "other"), { second: true }), true);
      assert.deepEqual(await find(t, request("k", "other")), { second: true });
      // ...which is then current: a concurrent writer with the key loses the race, as before.
      assert.equal(await save(t, request("k", "third")), false);
      assert.deepEqual(await keysOf(t), ["k"]);
    });

    test("the definer function deletes expired records of every tenant, in batches, and returns the count", async () => {
      const a = await newTenant();
      const b = await newTenant();
      for (const [t, keys] of [
        [a, ["a1", "a2", "a3", "a-fresh"]],
        [b, ["b1", "b2", "b-fresh"]],
      ] as const) {
        for (const key of keys) {
          await save(t, request(key));
          if (!key.endsWith("fresh")) await age(t, key, 2 * HOUR);
        }
      }
      // The application role without a tenant context sees, and so deletes, nothing by hand.
      const byHand = await db.withoutTenant((tx) =>
        tx.query("DELETE FROM idempotency_keys RETURNING key"),
      );
      assert.equal(byHand.length, 0);

      const expire = (limit: number) =>
        db.withoutTenant((tx) => expireIdempotencyKeys(tx, HOUR, limit));
      assert.equal(await expire(2), 2);
      assert.equal(await expire(1_000), 3);
      assert.equal(await expire(1_000), 0);
      assert.deepEqual(await keysOf(a), ["a-fresh"]);
      assert.deepEqual(await keysOf(b), ["b-fresh"]);
      // A TTL shorter than their age expires the fresh ones too.
      await age(a, "a-fresh", 10);
      assert.equal(await db.withoutTenant((tx) => expireIdempotencyKeys(tx, 5, 1_000)), 1);
      assert.deepEqual(await keysOf(a), []);
    });

    test("only the function's owner may read and delete idempotency records without a tenant context", async () => {
      const [definer] = await db.asOwner((tx) =>
        tx.query<{ owner: string; secdef: boolean }>(
          `SELECT pg_get_userbyid(proowner) AS owner, prosecdef AS secdef FROM pg_proc
           WHERE oid = 'engram_expire_idempotency_keys(integer, integer)'::regprocedure`,
        ),
      );
      assert.equal(definer?.secdef, true);
      const policies = await db.asOwner((tx) =>
        tx.query<{ policyname: string; cmd: string; roles: string[] }>(
          `SELECT policyname, cmd, roles::text[] AS roles FROM pg_policies
           WHERE tablename = 'idempotency_keys' ORDER BY policyname`,
        ),
      );
      assert.deepEqual(policies, [
        { policyname: "definer_expires_idempotency", cmd: "DELETE", roles: [definer?.owner] },
        { policyname: "definer_reads_idempotency", cmd: "SELECT", roles: [definer?.owner] },
        { policyname: "tenant_isolation", cmd: "ALL", roles: ["public"] },
      ]);
      const [app] = await db.withoutTenant((tx) =>
        tx.query<{ member: boolean; execute: boolean }>(
          `SELECT pg_has_role(current_user, $1, 'MEMBER') AS member,
                  has_function_privilege('engram_expire_idempotency_keys(integer, integer)', 'EXECUTE') AS execute`,
          [definer?.owner],
        ),
      );
      assert.deepEqual(app, { member: false, execute: true });
    });

    test("the job deletes batch after batch until nothing expired is left", async () => {
      const t = await newTenant();
      for (let i = 0; i < 7; i++) {
        await save(t, request(`old-${i}`));
        await age(t, `old-${i}`, 2 * HOUR);
      }
      await save(t, request("new"));
      const job = expireIdempotencyKeysJob({ ttlS: HOUR, intervalMs: 1_000, batch: 3 });
      assert.deepEqual(await job.run(context(job)), { skipped: false, counts: { deleted: 7 } });
      assert.deepEqual(await job.run(context(job)), { skipped: false, counts: { deleted: 0 } });
      assert.deepEqual(await keysOf(t), ["new"]);
      assert.equal(EXPIRY_BATCH, 5_000);
    });

    // PGlite is one session in one process: advisory locks are re-entrant within a session and
    // there is no other worker to exclude, so this holds only where several processes exist.
    if (backend.name === "postgres") {
      test("while another session holds the job's lock, the job skips and deletes nothing", async () => {
        const t = await newTenant();
        await save(t, request("old"));
        await age(t, "old", 2 * HOUR);
        const job = expireIdempotencyKeysJob({ ttlS: HOUR, intervalMs: 1_000 });
        // The owner's pool is a separate session: it plays the other worker.
        const whileHeld = await db.asOwner(async (tx) => {
          await tx.query("SELECT pg_advisory_xact_lock($1)", [job.lockKey]);
          return job.run(context(job));
        });
        assert.deepEqual(whileHeld, { skipped: true });
        assert.deepEqual(await keysOf(t), ["old"]);
        // The lock ended with that transaction.
        assert.deepEqual(await job.run(context(job)), { skipped: false, counts: { deleted: 1 } });
        assert.deepEqual(await keysOf(t), []);
      });
    }
  });
}

describe("scheduler", () => {
  const db = {} as Database; // the jobs below never touch it

  test("runs each job every interval, logs failures and keeps going; stop() waits for the running job", async () => {
    let runs = 0;
    let failures = 0;
    let release: () => void = () => {};
    const logged: string[] = [];
    const log: JobLogger = {
      debug: () => {},
      info: (_o, msg) => logged.push(msg),
      warn: () => {},
      error: (_o, msg) => {
        failures++;
        logged.push(msg);
      },
    };
    const job: Job = {
      name: "test-job",
      lockKey: 1,
      intervalMs: 20,
      async run() {
        runs++;
        if (runs === 2) throw new Error("boom");
        if (runs === 4) await new Promise<void>((resolve) => (release = resolve));
        return { skipped: false, counts: { done: 1 } };
      },
    };
    const scheduler = startScheduler([job], { db, redis: undefined, log });
    while (runs < 4) await sleep(5);
    // Run 4 is in progress: stop() must wait for it, and no run may start afterwards.
    let stopped = false;
    const stopping = scheduler.stop().then(() => {
      stopped = true;
    });
    await sleep(50);
    assert.equal(stopped, false, "stop() resolved while a run was in progress");
    release();
    await stopping;
    await sleep(60);
    assert.equal(runs, 4);
    assert.equal(failures, 1);
    assert.deepEqual(logged, [
      "job ran",
      "job failed; it runs again at its next interval",
      "job ran",
      "job ran",
    ]);
  });

  test("waits interval ± 20 %, starting at a random point of the first interval", async () => {
    const starts: number[] = [];
    const t0 = performance.now();
    const job: Job = {
      name: "timed",
      lockKey: 1,
      intervalMs: 100,
      async run() {
        starts.push(performance.now() - t0);
        return { skipped: true };
      },
    };
    // random() = 0.5: the first run after half an interval, then exactly one interval apart.
    const scheduler = startScheduler([job], {
      db,
      redis: undefined,
      log: silent,
      random: () => 0.5,
    });
    while (starts.length < 3) await sleep(5);
    await scheduler.stop();
    const [first = 0, second = 0, third = 0] = starts;
    assert.ok(first >= 45 && first < 95, `first run at ${first} ms`);
    assert.ok(second - first >= 95 && second - first < 160, `then ${second - first} ms`);
    assert.ok(third - second >= 95 && third - second < 160, `then ${third - second} ms`);
  });
});

test("embedded `engram serve` runs the worker's jobs itself", { timeout: 60_000 }, async () => {
  const dataDir = tempDir("engram-embedded-jobs-");
  try {
    const srv = await startTestServer({
      ENGRAM_DATA_DIR: dataDir,
      ENGRAM_IDEMPOTENCY_TTL_S: "1",
      ENGRAM_WORKER_INTERVAL_S: "1",
    });
    try {
      const { client } = await srv.newTenant();
      const first = await client.addMemory({ text: "Waters the ferns" }, { idempotencyKey: "k" });
      // Past the TTL the key is forgotten: another body with it is a new request, not a 422.
      await sleep(1_500);
      const second = await client.addMemory({ text: "Feeds the cat" }, { idempotencyKey: "k" });
      assert.equal(second.results[0]?.event, "ADD");
      assert.notEqual(second.results[0]?.id, first.results[0]?.id);
      await client.addMemory({ text: "Walks the dog" }, { idempotencyKey: "old" });
      // Two intervals (with jitter) after "old" expired, the in-process job has deleted it.
      await sleep(3_500);
      await client.addMemory({ text: "Reads the news" }, { idempotencyKey: "recent" });
    } finally {
      await srv.close(true);
    }
    const db = await openPGliteDatabase(join(dataDir, "pgdata"));
    try {
      const rows = await db.asOwner((tx) =>
        tx.query<{ key: string }>("SELECT key FROM idempotency_keys ORDER BY key"),
      );
      assert.deepEqual(
        rows.map((r) => clientKey(r.key)),
        ["recent"],
      );
    } finally {
      await db.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

describe("engram worker (CLI)", () => {
  /** `engram worker` with only the given Engram variables set, run until it exits. */
  function engram(vars: Record<string, string>) {
    return runProcess(process.execPath, [...ENGRAM_CLI, "worker"], {
      env: bareEngramEnv(vars),
      timeoutMs: 60_000,
    });
  }

  test("refuses embedded mode: `engram serve` runs the jobs there", async () => {
    const dataDir = tempDir("engram-worker-");
    const r = await engram({ ENGRAM_DATA_DIR: dataDir });
    rmSync(dataDir, { recursive: true, force: true });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /engram worker needs DATABASE_URL.*`engram serve` runs the worker's jobs/,
    );
  });

  test("refuses a database `engram migrate` has not brought up to date", async () => {
    const pg = await createTestPostgres();
    try {
      const r = await engram({ DATABASE_URL: pg.appUrl });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /schema is not current.*run `engram migrate`/);
    } finally {
      await pg.drop();
    }
  });
});
