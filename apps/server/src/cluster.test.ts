import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { EngramAdminClient, EngramClient, type HistoryEntry, type Memory } from "@engram/sdk";
import pg from "pg";
import { callPath as call, clientKey } from "./testing/http.ts";
import { acknowledgedWrites } from "./testing/memory-fixtures.ts";
import { killAll, within } from "./testing/run-process.ts";
import { createTestPostgres, type TestPostgres, withPgClient } from "./testing/test-postgres.ts";
import { createTestRedis, type TestRedis } from "./testing/test-redis.ts";
import {
  ADMIN_TOKEN,
  freePort,
  spawnEngram,
  spawnServer,
  spawnWorker,
  tempDir,
} from "./testing/test-server.ts";
import { JOB_LOCKS } from "./worker/job.ts";

// Cluster mode as deployed: `engram migrate`, then two `engram serve` processes (A and B) and two
// `engram worker` processes, all on one PostgreSQL database and one Redis (its own prefix).

const RATE_LIMIT = 20;

type Server = Awaited<ReturnType<typeof spawnServer>>;
type Worker = Awaited<ReturnType<typeof spawnWorker>>;
type Child = Server | Worker;

const children = new Set<Child>();
const dirs: string[] = [];

// Last resort if the test process ends without running `after` (e.g. the runner's own timeout).
process.on("exit", () => {
  for (const c of children) c.child.kill("SIGKILL");
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("cluster: two API processes and two workers on one PostgreSQL and Redis", () => {
  let database: TestPostgres;
  let redis: TestRedis;
  let env: Record<string, string>;
  let a: Server;
  let b: Server;
  let workers: Worker[];

  /** Tenants are created through B's admin API; every process sees them. */
  async function tenant(keys = 1) {
    const admin = new EngramAdminClient({ baseUrl: b.url, token: ADMIN_TOKEN });
    const created = await admin.createTenant({
      name: `cluster-${Math.random()}`,
      plan: "starter",
      // The per-key limit is what this suite checks across processes; the tenant-wide bucket and
      // the plan's key limit (rate-limit and plans tests) would cut the many-key test short.
      overrides: {
        requests_per_window: RATE_LIMIT,
        window_seconds: 60,
        tenant_requests_per_window: null,
        api_keys: null,
      },
    });
    const secrets: string[] = [];
    for (let i = 0; i < keys; i++) secrets.push((await admin.createKey(created.id)).key);
    let next = 0;
    return {
      tenantId: created.id,
      key: secrets[0] as string,
      /** The keys in turn: each has its own rate limit, so long tests stay under it. */
      nextKey: () => secrets[next++ % secrets.length] as string,
      on: (srv: Server, key = secrets[0] as string) =>
        new EngramClient({ baseUrl: srv.url, token: key }),
    };
  }

  /**
   * SQL as the schema owner under one tenant's context (FORCE RLS applies to the owner too; it
   * may read every tenant's idempotency records, for the expiry function, so filter anyway).
   */
  function asOwnerIn<T>(tenantId: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    return withPgClient(database.ownerUrl, async (client) => {
      await client.query("BEGIN");
      await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
      const result = await fn(client);
      await client.query("COMMIT");
      return result;
    });
  }

  const idempotencyKeys = async (tenantId: string) =>
    (
      await asOwnerIn(tenantId, (c) =>
        c.query<{ key: string }>(
          "SELECT key FROM idempotency_keys WHERE tenant_id = $1 ORDER BY key",
          [tenantId],
        ),
      )
    ).rows.map((r) => clientKey(r.key));

  before(async () => {
    database = await createTestPostgres();
    redis = await createTestRedis();
    const dataDir = tempDir("engram-cluster-");
    dirs.push(dataDir);
    env = {
      DATABASE_URL: database.appUrl,
      ...redis.env,
      ENGRAM_DATA_DIR: dataDir, // unused in cluster mode: the admin token is given
      ENGRAM_ADMIN_TOKEN: ADMIN_TOKEN,
      ENGRAM_WORKER_INTERVAL_S: "1",
      ENGRAM_IDEMPOTENCY_TTL_S: "3600",
    };
    const migrate = spawnEngram("migrate", {
      ENGRAM_DATABASE_OWNER_URL: database.ownerUrl,
      ENGRAM_DATA_DIR: dataDir,
    });
    const code = await within(migrate.exited, 60_000, "engram migrate").catch((err) => {
      migrate.child.kill("SIGKILL");
      throw err;
    });
    assert.equal(code, 0, migrate.output());
    assert.ok(JSON.parse(migrate.output()).applied.includes("0003_expire_idempotency_keys.sql"));

    const [portA, portB] = [await freePort(), await freePort()];
    const started = await Promise.allSettled([
      spawnServer(dataDir, portA, env),
      spawnServer(dataDir, portB, env),
      spawnWorker(env),
      spawnWorker(env),
    ]);
    for (const s of started) if (s.status === "fulfilled") children.add(s.value);
    for (const s of started) if (s.status === "rejected") throw s.reason;
    [a, b] = started.slice(0, 2).map((s) => (s as PromiseFulfilledResult<Server>).value) as [
      Server,
      Server,
    ];
    workers = started.slice(2).map((s) => (s as PromiseFulfilledResult<Worker>).value);
  });

  after(async () => {
    // Every child, even after a failed assertion or a failed start.
    await killAll(children);
    await redis?.close();
    await database?.drop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test("a memory added through A is found through B: get, list and search; an update too", async () => {
    const t = await tenant();
    const viaA = t.on(a);
    const viaB = t.on(b);
    const added = await viaA.addMemory({
      text: "Priya keeps her bicycle in the blue shed",
      user_id: "priya",
      metadata: { place: "shed" },
    });
    const id = added.results[0]?.id ?? "";
    assert.equal(added.results[0]?.event, "ADD");

    const got = await viaB.getMemory(id);
    assert.equal(got.memory, "Priya keeps her bicycle in the blue shed");
    assert.deepEqual(got.metadata, { place: "shed" });
    assert.deepEqual(
      (await viaB.listMemories({ user_id: "priya" })).results.map((m) => m.id),
      [id],
    );
    const hits = await viaB.searchMemories({ query: "where is the bike kept?", user_id: "priya" });
    assert.equal(hits.results[0]?.id, id);

    // B has the memory in the shared hot cache now; an update through A must not leave it stale.
    await viaA.updateMemory(id, { text: "Priya keeps her bicycle in the garage" });
    assert.equal((await viaB.getMemory(id)).memory, "Priya keeps her bicycle in the garage");
  });

  test("a key revoked through A is refused by B on its next request", async () => {
    const t = await tenant();
    const viaA = t.on(a);
    const doomed = await viaA.createKey({ name: "doomed", scopes: ["memories:read"] });
    assert.equal((await call(b.url, doomed.key, "GET", "v1/memories")).status, 200);
    await viaA.revokeKey(doomed.id);
    const refused = await call(b.url, doomed.key, "GET", "v1/memories");
    assert.equal(refused.status, 401);
    assert.equal((refused.body as { code: string }).code, "unauthenticated");
    assert.equal((await call(a.url, doomed.key, "GET", "v1/memories")).status, 401);
    // The revoking key still works on both.
    assert.equal((await call(b.url, t.key, "GET", "v1/memories")).status, 200);
  });

  test("the rate limit is shared: one key gets its quota once across A and B", async () => {
    const t = await tenant();
    const replies = await Promise.all(
      Array.from({ length: 3 * RATE_LIMIT }, (_, i) =>
        call(i % 2 ? b.url : a.url, t.key, "GET", "v1/memories").then((r) => ({
          ...r,
          via: i % 2 ? "B" : "A",
        })),
      ),
    );
    const ok = replies.filter((r) => r.status === 200);
    const limited = replies.filter((r) => r.status === 429);
    const perProcess = JSON.stringify({
      A: ok.filter((r) => r.via === "A").length,
      B: ok.filter((r) => r.via === "B").length,
    });
    assert.equal(ok.length, RATE_LIMIT, `successes per process: ${perProcess}`);
    assert.equal(limited.length, 2 * RATE_LIMIT);
    for (const r of limited) assert.equal((r.body as { code: string }).code, "rate_limited");
    // Another key of the same tenant has its own quota, on either process.
    const other = (
      await new EngramAdminClient({ baseUrl: a.url, token: ADMIN_TOKEN }).createKey(t.tenantId)
    ).key;
    assert.equal((await call(a.url, other, "GET", "v1/memories")).status, 200);
    assert.equal((await call(b.url, other, "GET", "v1/memories")).status, 200);
  });

  test("a worker expires old Idempotency-Keys, one worker at a time; SIGTERM stops it cleanly", {
    timeout: 90_000,
  }, async (ctx) => {
    const tenants = [await tenant(), await tenant()];
    const aged: Record<string, string[]> = {};
    for (const [n, t] of tenants.entries()) {
      const client = t.on(n === 0 ? a : b);
      for (const name of ["old-1", "old-2", "old-3", "old-4", "old-5", "fresh"]) {
        await client.addMemory({ text: `${name} of tenant ${n}` }, { idempotencyKey: name });
      }
      aged[t.tenantId] = ["old-1", "old-2", "old-3", "old-4", "old-5"];
    }
    const [first, second] = tenants as [
      Awaited<ReturnType<typeof tenant>>,
      Awaited<ReturnType<typeof tenant>>,
    ];

    // This connection plays a worker that is running the job: the real ones must keep off.
    const holder = new pg.Client({ connectionString: database.ownerUrl });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1)", [JOB_LOCKS.expireIdempotencyKeys]);
      const logged = workers.map((w) => w.logs().length);
      for (const [tenantId, keys] of Object.entries(aged)) {
        await asOwnerIn(tenantId, (c) =>
          c.query(
            `UPDATE idempotency_keys SET created_at = now() - interval '2 days'
             WHERE tenant_id = $1 AND regexp_replace(key, '^([^:]*:){2}', '') = ANY($2)`,
            [tenantId, keys],
          ),
        );
      }
      // Correctness does not wait for the worker: an expired key is absent for requests at once,
      // so another body with it is a new write (not 422 idempotency_key_reused).
      const again = await first
        .on(b)
        .addMemory({ text: "old-1 reused after expiry" }, { idempotencyKey: "old-1" });
      assert.equal(again.results[0]?.event, "ADD");
      aged[first.tenantId] = ["old-2", "old-3", "old-4", "old-5"];

      await sleep(3_000); // two to three runs of each worker
      for (const [i, w] of workers.entries()) {
        const skipped = w
          .logs()
          .slice(logged[i])
          .filter((l) => l.msg === "job skipped: another worker holds its lock");
        assert.ok(skipped.length >= 1, `worker ${i} skipped while the lock was held`);
      }
      assert.deepEqual(await idempotencyKeys(first.tenantId), [
        "fresh",
        "old-1",
        "old-2",
        "old-3",
        "old-4",
        "old-5",
      ]);
    } finally {
      await holder.end(); // releases the lock
    }

    const released = workers.map((w) => w.logs().length);
    for (const deadline = Date.now() + 15_000; ; await sleep(200)) {
      const left = [
        ...(await idempotencyKeys(first.tenantId)),
        ...(await idempotencyKeys(second.tenantId)),
      ];
      if (left.length === 3) {
        assert.deepEqual(left.sort(), ["fresh", "fresh", "old-1"]);
        break;
      }
      assert.ok(Date.now() < deadline, `still there: ${left}`);
    }
    await sleep(2_500); // more runs, which must find nothing left to delete
    const deleted = workers.map((w, i) =>
      w
        .logs()
        .slice(released[i])
        .filter((l) => l.msg === "job ran" && l.job === "expire-idempotency-keys")
        .reduce((sum, l) => sum + (l.deleted as number), 0),
    );
    ctx.diagnostic(`deleted per worker: ${deleted}`);
    // Nine aged records (the reused key was renewed), deleted once between the two workers.
    assert.equal(
      deleted.reduce((x, y) => x + y, 0),
      9,
      `deleted per worker: ${deleted}`,
    );

    // SIGTERM: the worker finishes its running job, closes the database and Redis, and exits 0.
    const stopping = workers[1] as Worker;
    stopping.child.kill("SIGTERM");
    const code = await within(stopping.exited, 15_000, "worker exit after SIGTERM");
    children.delete(stopping);
    assert.equal(code, 0, stopping.output());
    const last = stopping.logs().map((l) => l.msg);
    assert.ok(last.includes("shutting down: finishing the running job"));
    assert.equal(last.at(-1), "worker stopped");
    assert.ok(!last.includes("job failed; it runs again at its next interval"), stopping.output());
  });

  test("kill -9 of A in the middle of a burst loses no write A acknowledged; B serves them all", {
    timeout: 120_000,
  }, async (ctx) => {
    // Many keys: each has RATE_LIMIT requests a minute, and this test makes a few hundred.
    const t = await tenant(16);
    const { acked, ack } = acknowledgedWrites(); // id → text
    for (let i = 0; i < 20; i++) {
      const text = `Acknowledged fact ${i}: platform ${i} serves the ${i % 5} o'clock train`;
      ack(text, await call(a.url, t.nextKey(), "POST", "v1/memories", { text, user_id: "k9" }));
    }

    // A burst in flight on A: concurrent single adds and one batch that must be all-or-nothing.
    const batchTexts = Array.from(
      { length: 200 },
      (_, i) => `Batch fact ${i} in flight: signal box ${i} is painted ${i % 2 ? "green" : "grey"}`,
    );
    const batchCall = call(a.url, t.nextKey(), "POST", "v1/memories/batch", {
      memories: batchTexts.map((text) => ({ text, user_id: "k9" })),
    }).catch(() => undefined);
    // Killed once a few of the burst are answered, with the rest (and the batch) still in flight.
    const KILL_AFTER = 5;
    let answers = 0;
    let enoughAnswers: () => void = () => {};
    const answered = new Promise<void>((resolve) => {
      enoughAnswers = resolve;
    });
    const burst = Array.from({ length: 60 }, async (_, i) => {
      const text = `Burst fact ${i}: the tram to stop ${i} runs every ${i + 2} minutes`;
      const res = await call(a.url, t.nextKey(), "POST", "v1/memories", {
        text,
        user_id: "k9",
      }).catch(() => undefined); // the connection died with the process
      if (!res) return "cut";
      ack(text, res);
      if (++answers === KILL_AFTER) enoughAnswers();
      return "answered";
    });
    await within(answered, 30_000, "first answers of the burst");
    a.child.kill("SIGKILL");
    assert.equal(await a.exited, null);
    children.delete(a);
    const outcomes = await Promise.all(burst);
    assert.ok(acked.size >= 20 + KILL_AFTER, "some of the burst was acknowledged before the kill");
    assert.ok(outcomes.includes("cut"), "the kill cut some of the burst off");
    await batchCall;

    // Every acknowledged write, through B, with exactly its ADD in history.
    for (const [id, text] of acked) {
      const viaB = t.on(b, t.nextKey());
      const memory: Memory = await viaB.getMemory(id);
      assert.equal(memory.memory, text);
      assert.equal(memory.user_id, "k9");
      const history: HistoryEntry[] = (await viaB.getMemoryHistory(id)).results;
      assert.deepEqual(
        history.map((h) => [h.event, h.old_memory, h.new_memory]),
        [["ADD", null, text]],
        `history of ${id}`,
      );
    }
    const stored: Memory[] = [];
    for await (const m of t.on(b, t.nextKey()).listAllMemories({ user_id: "k9", limit: 100 })) {
      stored.push(m);
    }
    const storedIds = new Set(stored.map((m) => m.id));
    for (const id of acked.keys()) assert.ok(storedIds.has(id), `${id} is listed`);
    // The batch is one transaction: PostgreSQL has all of it or none of it.
    const fromBatch = stored.filter((m) => m.memory.startsWith("Batch fact ")).length;
    assert.ok(fromBatch === 0 || fromBatch === 200, `batch rows after the kill: ${fromBatch}`);
    assert.ok(stored.length <= 20 + 60 + 200);
    const cut = outcomes.filter((o) => o === "cut").length;
    ctx.diagnostic(`acknowledged ${acked.size}, cut by the kill ${cut}, batch rows ${fromBatch}`);

    // B still writes, and A's death did not disturb the remaining worker.
    const after = await t.on(b, t.nextKey()).addMemory({ text: "Written after A died" });
    assert.equal(after.results[0]?.event, "ADD");
    assert.equal((workers[0] as Worker).child.exitCode, null);
  });
});
