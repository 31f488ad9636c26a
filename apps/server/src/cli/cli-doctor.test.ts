import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "../config/config.ts";
import { migrateDatabase, openDatabase } from "../db/open-database.ts";
import { embeddingModel } from "../embeddings/create-embedder.ts";
import { runEngram } from "../testing/engram-cli.ts";
import { createTestPostgres, type TestPostgres } from "../testing/test-postgres.ts";
import { freePort, tempDir } from "../testing/test-server.ts";
import { migrateCommand } from "./migrate.ts";

// `engram doctor` in a child process, with the environment an operator would give it: a verdict
// per check, exit 0 when none fails and 1 when one does.

const dir = tempDir("engram-cli-doctor-");
let migrated: TestPostgres;
let empty: TestPostgres;

before(async () => {
  migrated = await createTestPostgres();
  await migrateCommand(loadConfig({ ENGRAM_DATABASE_OWNER_URL: migrated.ownerUrl }));
  empty = await createTestPostgres();
});
after(async () => {
  await migrated?.drop();
  await empty?.drop();
  rmSync(dir, { recursive: true, force: true });
});

interface Check {
  check: string;
  status: "ok" | "warn" | "fail";
  reason: string;
}

async function doctor(vars: Record<string, string>) {
  const r = await runEngram(["doctor", "--json"], { ENGRAM_DATA_DIR: join(dir, "fresh"), ...vars });
  const report = JSON.parse(r.stdout) as { ok: boolean; checks: Check[] };
  const by = Object.fromEntries(report.checks.map((c) => [c.check, c]));
  return { code: r.code, report, by, stderr: r.stderr };
}

const CHECKS = ["configuration", "database", "migrations", "redis", "model", "disk"];

describe("engram doctor", () => {
  test("embedded, fresh data directory: every check ok, as a table, exit 0", async () => {
    const r = await runEngram(["doctor"], { ENGRAM_DATA_DIR: join(dir, "fresh") });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const [header, ...rows] = r.stdout.trim().split("\n");
    assert.match(header ?? "", /^CHECK +STATUS +REASON$/);
    assert.deepEqual(
      rows.map((row) => row.split(/ +/).slice(0, 2)),
      CHECKS.map((c) => [c, "ok"]),
    );
    assert.match(r.stdout, /^model +ok +use-lite-512 \(512 dimensions\) embedded a sentence/m);
    assert.match(r.stdout, /^disk +ok +[\d.]+ GiB free/m);
    assert.ok(!existsSync(join(dir, "fresh")), "the doctor creates nothing");
  });

  test("embedded, an existing database: connected, migrations current", async () => {
    const dataDir = join(dir, "existing");
    const config = loadConfig({ ENGRAM_DATA_DIR: dataDir });
    const db = await openDatabase(config);
    await migrateDatabase(db, embeddingModel(config.embedder));
    await db.close();
    const r = await doctor({ ENGRAM_DATA_DIR: dataDir });
    assert.equal(r.code, 0, JSON.stringify(r.report));
    assert.equal(r.report.ok, true);
    assert.match(r.by.database?.reason ?? "", /embedded in .*: connected/);
    assert.equal(r.by.migrations?.status, "ok");
    assert.match(r.by.migrations?.reason ?? "", /^current/);
  });

  test("cluster mode: the application role on a migrated database is ok", async () => {
    const r = await doctor({ DATABASE_URL: migrated.appUrl });
    assert.equal(r.code, 0, JSON.stringify(r.report));
    assert.equal(r.by.database?.status, "ok");
    assert.match(r.by.database?.reason ?? "", /least-privilege/);
    assert.equal(r.by.migrations?.status, "ok");
    assert.ok(
      !JSON.stringify(r.report).includes(migrated.appUrl),
      "the URL (a password) is not shown",
    );
  });

  test("cluster mode: the schema owner as DATABASE_URL fails (it bypasses row-level security)", async () => {
    const r = await doctor({ DATABASE_URL: migrated.ownerUrl });
    assert.equal(r.code, 1);
    assert.equal(r.by.database?.status, "fail");
    assert.match(r.by.database?.reason ?? "", /must connect as the application role engram_app/);
  });

  test("cluster mode: a database `engram migrate` has not run on fails migrations", async () => {
    const r = await doctor({ DATABASE_URL: empty.appUrl });
    assert.equal(r.code, 1);
    assert.equal(r.by.migrations?.status, "fail");
    assert.match(r.by.migrations?.reason ?? "", /pending.*run `engram migrate`/);
  });

  test("an unreachable DATABASE_URL or REDIS_URL fails that check with the reason; exit 1", async () => {
    const port = await freePort();
    const db = await doctor({
      DATABASE_URL: `postgres://engram_app:secret@127.0.0.1:${port}/engram`,
    });
    assert.equal(db.code, 1);
    assert.equal(db.report.ok, false);
    assert.equal(db.by.database?.status, "fail");
    assert.match(db.by.database?.reason ?? "", /cannot connect: .*ECONNREFUSED/);
    assert.equal(db.by.model?.status, "ok", "the other checks still run");
    assert.ok(!JSON.stringify(db.report).includes("secret"));

    const redis = await doctor({ REDIS_URL: `redis://127.0.0.1:${port}` });
    assert.equal(redis.code, 1);
    assert.deepEqual(
      redis.report.checks.map((c) => c.status),
      ["ok", "ok", "ok", "fail", "ok", "ok"],
    );
    assert.match(redis.by.redis?.reason ?? "", /unreachable \(.*ECONNREFUSED/);
  });

  test("an invalid environment fails the configuration check (naming the variable); exit 1", async () => {
    const r = await doctor({ PORT: "abc" });
    assert.equal(r.code, 1);
    assert.equal(r.by.configuration?.status, "fail");
    assert.match(r.by.configuration?.reason ?? "", /PORT/);
    assert.deepEqual(
      r.report.checks.map((c) => c.check),
      CHECKS,
    );
  });
});
