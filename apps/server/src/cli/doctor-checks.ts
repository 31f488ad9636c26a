import { existsSync, statfsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRedisConnection } from "../cache/redis-connection.ts";
import { type Config, loadConfig } from "../config/config.ts";
import type { Database } from "../db/database.ts";
import { openDatabase, roleProblem, schemaGaps } from "../db/open-database.ts";
import { createEmbedder, embeddingModel } from "../embeddings/create-embedder.ts";
import { createCounters } from "../telemetry/counters.ts";
import { reasonOf } from "./fail.ts";

type Verdict = "ok" | "warn" | "fail";

export interface CheckResult {
  check: string;
  status: Verdict;
  reason: string;
}

/** Free space in the data directory below which writes (database, uploads) are at risk. */
const DISK_FAIL_BYTES = 100 * 1024 ** 2;
const DISK_WARN_BYTES = 1024 ** 3;
const SENTENCE = "Engram's doctor checks that the embedding model can embed this sentence.";

const ok = (check: string, reason: string): CheckResult => ({ check, status: "ok", reason });
const warn = (check: string, reason: string): CheckResult => ({ check, status: "warn", reason });
const fail = (check: string, reason: string): CheckResult => ({ check, status: "fail", reason });
const oneLine = (err: unknown) => reasonOf(err).split("\n")[0] ?? "";

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;

/** Whether an Engram server already answers at HOST:PORT (it then owns an embedded data dir). */
async function serverAnswers(config: Config): Promise<boolean> {
  const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
  try {
    const res = await fetch(`http://${host}:${config.port}/healthz`, {
      signal: AbortSignal.timeout(1_000),
    });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/** Database, migrations and (cluster mode) the role, through the server's own opening code. */
async function databaseChecks(config: Config): Promise<CheckResult[]> {
  const cluster = config.databaseUrl !== undefined;
  if (!cluster) {
    const pgdata = join(config.dataDir, "pgdata");
    if (!existsSync(pgdata)) {
      return [
        ok("database", `embedded; no database yet in ${pgdata}: \`engram serve\` creates it`),
        ok("migrations", "applied by `engram serve` when it creates the database"),
      ];
    }
    // One process owns an embedded data directory: opening it beside a running server could
    // corrupt it, so the doctor leaves it to the server.
    if (await serverAnswers(config)) {
      return [
        warn(
          "database",
          `embedded in ${pgdata}, in use by the server on port ${config.port}: not opened`,
        ),
        warn("migrations", "not checked while the server runs (it applies them on start)"),
      ];
    }
  }
  let db: Database;
  try {
    db = await openDatabase(config);
    await db.ping();
  } catch (err) {
    return [
      fail("database", `cannot connect: ${oneLine(err)}`),
      fail("migrations", "not checked: no database connection"),
    ];
  }
  try {
    const where = cluster ? "PostgreSQL (DATABASE_URL)" : `embedded in ${config.dataDir}`;
    const model = embeddingModel(config.embedder);
    const { pending, vectorIndex } = await schemaGaps(db, model);
    const migrations =
      pending.length === 0 && vectorIndex
        ? ok("migrations", `current (vector index for ${model.id} present)`)
        : !cluster
          ? ok("migrations", `${pending.length} pending: \`engram serve\` applies them on start`)
          : fail(
              "migrations",
              `${pending.length > 0 ? `${pending.length} pending (${pending[0]}…)` : `no vector index for ${model.id}`}: run \`engram migrate\``,
            );
    if (!cluster) return [ok("database", `${where}: connected`), migrations];
    if (pending.length > 0) {
      return [
        warn("database", `${where}: connected; role not checked before migrations`),
        migrations,
      ];
    }
    const problem = await roleProblem(db);
    return [
      problem
        ? fail("database", problem)
        : ok(
            "database",
            `${where}: connected as a least-privilege role (no superuser, no BYPASSRLS)`,
          ),
      migrations,
    ];
  } catch (err) {
    return [fail("database", oneLine(err)), fail("migrations", "not checked")];
  } finally {
    await db.close().catch(() => {});
  }
}

/** Redis, when REDIS_URL is set: connect and PING with the server's own connection settings. */
async function redisCheck(config: Config): Promise<CheckResult> {
  if (!config.redisUrl) {
    return ok("redis", "not configured: rate limits and caches are per process");
  }
  const redis = createRedisConnection({
    url: config.redisUrl,
    prefix: config.redisPrefix,
    counters: createCounters(),
  });
  let failure: string | undefined;
  try {
    await redis.connect({
      info() {},
      warn: (obj) => (failure ??= String((obj as { err?: unknown }).err ?? "")),
    });
    await redis.ping();
    return ok("redis", "connected; PING answered");
  } catch (err) {
    return fail(
      "redis",
      `unreachable (${failure || oneLine(err)}): the server falls back to per-process limits and caches`,
    );
  } finally {
    await redis.close();
  }
}

/** The embedding model: loads it and embeds one sentence. */
async function modelCheck(config: Config): Promise<CheckResult> {
  const started = Date.now();
  try {
    const embedder = await createEmbedder(config.embedder);
    try {
      const [vector] = await embedder.embed([SENTENCE]);
      if (
        !vector ||
        vector.length !== embedder.dimension ||
        vector.some((x) => !Number.isFinite(x))
      ) {
        return fail("model", `${embedder.modelId} returned a malformed vector`);
      }
      return ok(
        "model",
        `${embedder.modelId} (${embedder.dimension} dimensions) embedded a sentence in ${Date.now() - started} ms`,
      );
    } finally {
      await embedder.close();
    }
  } catch (err) {
    return fail("model", `cannot embed: ${oneLine(err)}`);
  }
}

/** Free space where the data directory is (or would be created). */
function diskCheck(config: Config): CheckResult {
  let dir = config.dataDir;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    const fs = statfsSync(dir);
    const free = fs.bavail * fs.bsize;
    const where = `${gib(free)} free for ${config.dataDir}`;
    if (free < DISK_FAIL_BYTES) return fail("disk", `${where}: writes will fail`);
    if (free < DISK_WARN_BYTES) return warn("disk", `${where}: less than 1 GiB left`);
    return ok("disk", where);
  } catch (err) {
    return fail("disk", `cannot read free space of ${dir}: ${oneLine(err)}`);
  }
}

/**
 * Every check `engram doctor` runs, in order, each with a verdict and a one-line reason. A
 * configuration that does not load fails every check after it (they need it).
 */
export async function runChecks(env: Record<string, string | undefined>): Promise<CheckResult[]> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    const skipped = ["database", "migrations", "redis", "model", "disk"].map((c) =>
      fail(c, "not checked: the configuration does not load"),
    );
    return [fail("configuration", oneLine(err)), ...skipped];
  }
  const mode = config.databaseUrl ? "cluster mode (PostgreSQL)" : "embedded mode (PGlite)";
  return [
    ok("configuration", `loaded; ${mode}, embedder ${config.embedder.provider}`),
    ...(await databaseChecks(config)),
    await redisCheck(config),
    await modelCheck(config),
    diskCheck(config),
  ];
}
