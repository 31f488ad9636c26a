import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EngramAdminClient, EngramClient, type Scope } from "@engram/sdk";
import { migrateCommand } from "../cli/migrate.ts";
import { loadConfig } from "../config/config.ts";
import { createServer, type Server } from "../server.ts";
import { createTestPostgres } from "./test-postgres.ts";

export const ADMIN_TOKEN = "test-admin-token-0123456789abcdef";

export interface TenantHandle {
  tenantId: string;
  key: string;
  client: EngramClient;
}

/** A fresh tenant with one key (all scopes unless given) and an SDK client for it. */
export async function newTenant(url: string, scopes?: Scope[]): Promise<TenantHandle> {
  const admin = new EngramAdminClient({ baseUrl: url, token: ADMIN_TOKEN });
  const tenant = await admin.createTenant({ name: `test-${Math.random().toString(36).slice(2)}` });
  const key = await admin.createKey(tenant.id, scopes ? { scopes } : {});
  return {
    tenantId: tenant.id,
    key: key.key,
    client: new EngramClient({ baseUrl: url, token: key.key }),
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
    ENGRAM_LOG_LEVEL: "silent",
    ...env,
  });
  const server: Server = await createServer(config);
  const address = await server.app.listen({ port: 0, host: "127.0.0.1" });
  return {
    url: address,
    dataDir,
    server,
    admin: new EngramAdminClient({ baseUrl: address, token: ADMIN_TOKEN }),
    newTenant: (scopes?: Scope[]) => newTenant(address, scopes),
    async close(keepData = false) {
      await server.close();
      if (!keepData && !env.ENGRAM_DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
export type TestServer = Awaited<ReturnType<typeof startTestServer>>;

/**
 * The real server in cluster mode: a fresh PostgreSQL database, migrated by `engram migrate`'s
 * code as the owner, served as the application role (DATABASE_URL). close() drops the database.
 */
export async function startPostgresTestServer(env: Record<string, string> = {}) {
  const database = await createTestPostgres();
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

const CLI = fileURLToPath(new URL("../cli/main.ts", import.meta.url));

/** `engram <command>` as a child process, its stdout and stderr collected. */
export function spawnEngram(command: string, env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", CLI, command], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, output: () => output };
}

/**
 * `engram serve` as a child process (for restart, SIGTERM and kill -9 tests); `env` adds to or
 * overrides its environment (e.g. DATABASE_URL and REDIS_URL for cluster mode).
 */
export async function spawnServer(dataDir: string, port: number, env: Record<string, string> = {}) {
  const { child, exited, output } = spawnEngram("serve", {
    ENGRAM_DATA_DIR: dataDir,
    ENGRAM_ADMIN_TOKEN: ADMIN_TOKEN,
    ENGRAM_LOG_LEVEL: "warn",
    PORT: String(port),
    HOST: "127.0.0.1",
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early:\n${output()}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL"); // the caller never gets the handle, so it could not stop it
      throw new Error(`server did not start:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, url, exited, output };
}

/**
 * `engram worker` as a child process, resolved once it logs that it runs. Its JSON log lines
 * (ENGRAM_LOG_LEVEL defaults to debug here, so skipped and empty runs show) are in `logs()`.
 */
export async function spawnWorker(env: Record<string, string>) {
  const spawned = spawnEngram("worker", { ENGRAM_LOG_LEVEL: "debug", ...env });
  const { child, output } = spawned;
  const logs = () =>
    output()
      .split("\n")
      .slice(0, -1) // the last piece may be a line still being written
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown> & { msg: string }];
        } catch {
          return []; // not a log line (e.g. a stack trace on stderr)
        }
      });
  const deadline = Date.now() + 60_000;
  while (!logs().some((l) => l.msg === "engram worker is running")) {
    if (child.exitCode !== null) throw new Error(`worker exited early:\n${output()}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`worker did not start:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ...spawned, logs };
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
