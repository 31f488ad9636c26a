import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CreateTenantBody, EngramAdminClient, EngramClient, type Scope } from "@engram/sdk";
import { migrateCommand } from "../cli/migrate.ts";
import { loadConfig } from "../config/config.ts";
import { DEFAULT_PLANS_FILE } from "../plans/plans.ts";
import { createServer, type Server } from "../server.ts";
import { type RunningProcess, spawnProcess, startProcess } from "./run-process.ts";
import { createTestPostgres, type PostgresServer } from "./test-postgres.ts";

export const ADMIN_TOKEN = "test-admin-token-0123456789abcdef";

/** The plan test tenants get unless a test names one: no quotas, no rate limit. */
export const UNLIMITED_TEST_PLAN = "unlimited-test";
/** A paid test plan: $10, 3 operations and 3,000 bytes included, hard limits 10 and 100,000. */
export const TINY_TEST_PLAN = "tiny-test";
let plansFile: string | undefined;

/**
 * The shipped plans plus UNLIMITED_TEST_PLAN as the default: tests about memories are not about
 * quotas, and the ones about quotas and rate limits name their plan and overrides.
 */
export function testPlansFile(): string {
  if (plansFile) return plansFile;
  const plans = JSON.parse(readFileSync(DEFAULT_PLANS_FILE, "utf8"));
  const unlimited = plans.plans.find((p: { id: string }) => p.id === "enterprise");
  plans.plans.push({ ...unlimited, id: UNLIMITED_TEST_PLAN, name: "Unlimited (tests)" });
  // A paid plan small enough for tests to reach its included amounts (overage) and its limits.
  plans.plans.push({
    id: TINY_TEST_PLAN,
    name: "Tiny (tests)",
    price_usd_month: 10,
    included: { memory_operations: 3, storage_bytes: 3000, active_memories: 100, projects: 2 },
    limits: { memory_operations: 10, storage_bytes: 100_000, active_memories: 100, projects: 2 },
    rate_limit: null,
  });
  plans.default_plan = UNLIMITED_TEST_PLAN;
  const dir = tempDir("engram-plans-");
  // Every server of this test process reads it; it goes when the process does.
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  plansFile = join(dir, "plans.json");
  writeFileSync(plansFile, JSON.stringify(plans));
  return plansFile;
}

/**
 * Failed authentications a test server allows per address (127.0.0.1) and window: tests of other
 * things send many bad credentials from the one address; the throttle's own tests set their limit.
 */
const TEST_AUTH_FAILURE_LIMIT = "100000";

export interface TenantHandle {
  tenantId: string;
  key: string;
  client: EngramClient;
}

/**
 * A fresh tenant (the server's default plan unless `body` names one) with a key (its first key,
 * which has every scope, or a second one with just `scopes`) and an SDK client for it.
 */
export async function newTenant(
  url: string,
  scopes?: Scope[],
  body: Partial<CreateTenantBody> = {},
): Promise<TenantHandle & { projectId: string }> {
  const admin = new EngramAdminClient({ baseUrl: url, token: ADMIN_TOKEN });
  const tenant = await admin.createTenant({
    name: `test-${Math.random().toString(36).slice(2)}`,
    ...body,
  });
  const key = scopes ? (await admin.createKey(tenant.id, { scopes })).key : tenant.key.key;
  return {
    tenantId: tenant.id,
    projectId: tenant.project.id,
    key,
    client: new EngramClient({ baseUrl: url, token: key }),
  };
}

export function tempDir(prefix = "engram-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The real server, in this process, on a random port, with its own data directory. */
export async function startTestServer(env: Record<string, string> = {}) {
  const dataDir = env.ENGRAM_DATA_DIR ?? tempDir();
  const config = loadConfig({
    ENGRAM_DATA_DIR: dataDir,
    ENGRAM_ADMIN_TOKEN: ADMIN_TOKEN,
    ENGRAM_LOG_LEVEL: process.env.ENGRAM_TEST_LOG_LEVEL ?? "silent",
    ENGRAM_PLANS_FILE: testPlansFile(),
    ENGRAM_AUTH_FAILURE_LIMIT: TEST_AUTH_FAILURE_LIMIT,
    ...env,
  });
  const server: Server = await createServer(config);
  const address = await server.app.listen({ port: 0, host: "127.0.0.1" });
  return {
    url: address,
    dataDir,
    server,
    admin: new EngramAdminClient({ baseUrl: address, token: ADMIN_TOKEN }),
    newTenant: (scopes?: Scope[], body?: Partial<CreateTenantBody>) =>
      newTenant(address, scopes, body),
    async close(keepData = false) {
      await server.close();
      if (!keepData && !env.ENGRAM_DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
export type TestServer = Awaited<ReturnType<typeof startTestServer>>;

/**
 * The real server in cluster mode: a fresh PostgreSQL database (on scripts/services.sh's server
 * unless `on` names another), migrated by `engram migrate`'s code as the owner, served as the
 * application role (DATABASE_URL). close() drops the database.
 */
export async function startPostgresTestServer(
  env: Record<string, string> = {},
  on?: PostgresServer,
) {
  const database = await createTestPostgres(on);
  try {
    await migrateCommand(loadConfig({ ENGRAM_DATABASE_OWNER_URL: database.ownerUrl, ...env }));
    const server = await startTestServer({ DATABASE_URL: database.appUrl, ...env });
    return {
      ...server,
      database,
      async close() {
        await server.close();
        await database.drop();
      },
    };
  } catch (err) {
    await database.drop();
    throw err;
  }
}

/**
 * Two API processes on one fresh PostgreSQL database, sharing whatever `env` names (a Redis, for
 * the cluster tests); `fn` gets both, which are closed (and the database dropped) after it.
 */
export async function withTwoServers<T>(
  env: Record<string, string>,
  fn: (a: TestServer, b: TestServer) => Promise<T>,
): Promise<T> {
  const a = await startPostgresTestServer(env);
  try {
    const b = await startTestServer({ ...env, DATABASE_URL: a.database.appUrl });
    try {
      return await fn(a, b);
    } finally {
      await b.close();
    }
  } finally {
    await a.close();
  }
}

/**
 * `node` arguments that run the `engram` CLI from source in a child process: tsx, and the
 * `@engram/source` export condition so @engram/contract and @engram/sdk resolve to their
 * TypeScript sources rather than a build (ADR 0016). Append the command and its arguments.
 */
export const ENGRAM_CLI = [
  "--conditions=@engram/source",
  "--import",
  "tsx",
  fileURLToPath(new URL("../cli/main.ts", import.meta.url)),
];

/**
 * This process's environment with none of Engram's variables (ENGRAM_*, DATABASE_URL,
 * REDIS_URL), then `vars`: for tests of what the CLI does with exactly the variables they set.
 */
export function bareEngramEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith("ENGRAM_") || key === "DATABASE_URL" || key === "REDIS_URL") delete env[key];
  }
  return { ...env, ...vars };
}

/** A child's environment: this process's, the test plans, then `env` (undefined: unset). */
function engramEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ENGRAM_PLANS_FILE: testPlansFile(),
    ENGRAM_AUTH_FAILURE_LIMIT: TEST_AUTH_FAILURE_LIMIT,
    ...env,
  };
}

/** `engram <command>` as a child process, not waited for; `env` as for spawnServer. */
export function spawnEngram(command: string, env: NodeJS.ProcessEnv): RunningProcess {
  return spawnProcess(process.execPath, [...ENGRAM_CLI, command], { env: engramEnv(env) });
}

/** A readiness check: the server at `url` answers GET /healthz with 2xx. */
export function serves(url: string): () => Promise<boolean> {
  return () =>
    fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
}

/**
 * `engram serve` as a child process (for restart, SIGTERM and kill -9 tests), resolved once it
 * answers /healthz; `env` adds to or overrides its environment (e.g. DATABASE_URL and REDIS_URL
 * for cluster mode; undefined unsets a variable).
 */
export async function spawnServer(dataDir: string, port: number, env: NodeJS.ProcessEnv = {}) {
  const url = `http://127.0.0.1:${port}`;
  const spawned = await startProcess(process.execPath, [...ENGRAM_CLI, "serve"], {
    what: "engram serve",
    env: engramEnv({
      ENGRAM_DATA_DIR: dataDir,
      ENGRAM_ADMIN_TOKEN: ADMIN_TOKEN,
      ENGRAM_LOG_LEVEL: "warn",
      PORT: String(port),
      HOST: "127.0.0.1",
      ...env,
    }),
    ready: serves(url),
  });
  return { ...spawned, url };
}

/** The JSON log lines a child has written so far (the last, unfinished piece left out). */
function logLines(output: string) {
  return output
    .split("\n")
    .slice(0, -1)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown> & { msg: string }];
      } catch {
        return []; // not a log line (e.g. a stack trace on stderr)
      }
    });
}

/**
 * `engram worker` as a child process, resolved once it logs that it runs. Its JSON log lines
 * (ENGRAM_LOG_LEVEL defaults to debug here, so skipped and empty runs show) are in `logs()`.
 */
export async function spawnWorker(env: NodeJS.ProcessEnv) {
  const spawned = await startProcess(process.execPath, [...ENGRAM_CLI, "worker"], {
    what: "engram worker",
    env: engramEnv({ ENGRAM_LOG_LEVEL: "debug", ...env }),
    ready: (p) => logLines(p.output()).some((l) => l.msg === "engram worker is running"),
    intervalMs: 50,
  });
  return { ...spawned, logs: () => logLines(spawned.output()) };
}

/** A TCP port that is free right now (the OS picks it). */
export async function freePort(): Promise<number> {
  const { createServer: createNetServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port")),
      );
    });
  });
}
