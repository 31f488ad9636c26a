import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { runProcess, startProcess } from "../testing/run-process.ts";
import { createTestPostgres, type TestPostgres } from "../testing/test-postgres.ts";
import { bareEngramEnv, ENGRAM_CLI, tempDir } from "../testing/test-server.ts";

const dirs: string[] = [];
// Every describe below makes data directories: removed once the whole file is done.
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Runs `engram <args>` with only the given Engram variables set; resolves when it exits. */
function engram(args: string[], vars: Record<string, string>) {
  const dataDir = tempDir("engram-migrate-");
  dirs.push(dataDir);
  return runProcess(process.execPath, [...ENGRAM_CLI, ...args], {
    env: bareEngramEnv({ ENGRAM_DATA_DIR: dataDir, ENGRAM_LOG_LEVEL: "warn", ...vars }),
    timeoutMs: 60_000,
  });
}

/** A start that fails is one line on stderr (what to fix), never a stack trace. */
function assertOneLine(stderr: string) {
  assert.equal(stderr.trim().split("\n").length, 1, stderr);
  assert.doesNotMatch(stderr, /\n\s+at /);
}

describe("engram migrate (cluster mode)", () => {
  let pg: TestPostgres;
  before(async () => {
    pg = await createTestPostgres();
  });
  after(async () => {
    await pg?.drop();
  });

  test("serve on a database that was never migrated fails fast and says to run engram migrate", async () => {
    const r = await engram(["serve"], { DATABASE_URL: pg.appUrl, PORT: "0" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^engram serve: .*schema is not current.*run `engram migrate`/);
    assertOneLine(r.stderr);
  });

  test("migrates as the owner with the model's index, and a second run applies nothing", async () => {
    const env = { DATABASE_URL: pg.appUrl, ENGRAM_DATABASE_OWNER_URL: pg.ownerUrl };
    const first = await engram(["migrate"], env);
    assert.equal(first.code, 0, first.stderr);
    const out = JSON.parse(first.stdout);
    assert.equal(out.database, "postgres");
    assert.ok(out.applied.includes("0001_init.sql"));
    // Known from the configuration, without loading the local model.
    assert.equal(out.vectorIndex, "memories_hnsw_use_lite_512_512");
    const again = await engram(["migrate"], env);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout).applied, []);
  });

  test("an OpenAI-compatible model gets its own index", async () => {
    const r = await engram(["migrate"], {
      ENGRAM_DATABASE_OWNER_URL: pg.ownerUrl,
      ENGRAM_EMBEDDER: "openai",
      ENGRAM_EMBEDDING_BASE_URL: "http://127.0.0.1:1/v1",
      ENGRAM_EMBEDDING_MODEL: "text-embedding-3-small",
      ENGRAM_EMBEDDING_DIMENSION: "1536",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      JSON.parse(r.stdout).vectorIndex,
      "memories_hnsw_openai_text_embedding_3_small_1536",
    );
  });

  test("refuses to run without the owner URL", async () => {
    const r = await engram(["migrate"], { DATABASE_URL: pg.appUrl });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ENGRAM_DATABASE_OWNER_URL/);
  });
});

describe("engram serve and engram worker on a database they cannot use", () => {
  let pg: TestPostgres;
  before(async () => {
    pg = await createTestPostgres();
    const r = await engram(["migrate"], { ENGRAM_DATABASE_OWNER_URL: pg.ownerUrl });
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await pg?.drop();
  });

  /** DATABASE_URL with another password, never echoed. */
  const wrongPassword = () => {
    const u = new URL(pg.appUrl);
    u.password = "not-the-password-4711";
    return u.toString();
  };

  for (const command of ["serve", "worker"]) {
    test(`${command}: a wrong password, the owner role, an unreachable server: exit 1, one line each`, async () => {
      const password = await engram([command], { DATABASE_URL: wrongPassword(), PORT: "0" });
      assert.equal(password.code, 1);
      assert.match(
        password.stderr,
        new RegExp(`^engram ${command}: .*password authentication failed`),
      );
      assertOneLine(password.stderr);
      assert.ok(!password.stderr.includes("not-the-password-4711"));

      const owner = await engram([command], { DATABASE_URL: pg.ownerUrl, PORT: "0" });
      assert.equal(owner.code, 1);
      assert.match(owner.stderr, /DATABASE_URL must connect as the application role engram_app/);
      assertOneLine(owner.stderr);

      const down = new URL(pg.appUrl);
      down.port = "1";
      const unreachable = await engram([command], { DATABASE_URL: down.toString(), PORT: "0" });
      assert.equal(unreachable.code, 1);
      assert.match(unreachable.stderr, /ECONNREFUSED/);
      assertOneLine(unreachable.stderr);
    });
  }

  test("serve in cluster mode logs the database it serves from, not a data directory", async () => {
    // A data directory of its own all the same: the admin token is kept there.
    const dataDir = tempDir("engram-migrate-");
    dirs.push(dataDir);
    const serve = await startProcess(process.execPath, [...ENGRAM_CLI, "serve"], {
      what: "engram serve",
      env: {
        ...process.env,
        DATABASE_URL: pg.appUrl,
        PORT: "0",
        ENGRAM_LOG_LEVEL: "info",
        ENGRAM_DATA_DIR: dataDir,
      },
      ready: (p) => p.stdout().includes("engram is serving"),
    });
    try {
      const stdout = serve.stdout();
      const line = stdout.split("\n").find((l) => l.includes("engram is serving"));
      assert.ok(line, stdout);
      const log = JSON.parse(line) as Record<string, unknown>;
      assert.equal(log.database, "postgres");
      assert.equal("dataDir" in log, false, line);
    } finally {
      await serve.stop();
    }
  });
});
