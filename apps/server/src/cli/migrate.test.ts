import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { createTestPostgres, type TestPostgres } from "../testing/test-postgres.ts";
import { ENGRAM_CLI, tempDir } from "../testing/test-server.ts";

const dirs: string[] = [];

/** Runs `engram <args>` with only the given Engram variables set; resolves when it exits. */
function engram(args: string[], vars: Record<string, string>) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith("ENGRAM_") || key === "DATABASE_URL" || key === "REDIS_URL") delete env[key];
  }
  const dataDir = tempDir("engram-migrate-");
  dirs.push(dataDir);
  const child = spawn(process.execPath, [...ENGRAM_CLI, ...args], {
    env: { ...env, ENGRAM_DATA_DIR: dataDir, ENGRAM_LOG_LEVEL: "warn", ...vars },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

describe("engram migrate (cluster mode)", () => {
  let pg: TestPostgres;
  before(async () => {
    pg = await createTestPostgres();
  });
  after(async () => {
    await pg?.drop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test("serve on a database that was never migrated fails fast and says to run engram migrate", async () => {
    const r = await engram(["serve"], { DATABASE_URL: pg.appUrl, PORT: "0" });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /schema is not current.*run `engram migrate`/);
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
