import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { runChecked } from "./run-process.ts";
import type { PostgresServer } from "./test-postgres.ts";

// Test harness, not app code: it may read the environment. The Debian root scripts/services.sh
// builds holds PostgreSQL 17 with pgvector; this reuses its binaries, never its running server.
const ROOT = process.env.ENGRAM_PG_ROOT ?? "/var/cache/engram/trixie-root";
const BIN = "/usr/lib/postgresql/17/bin";

export interface OwnPostgres {
  /** URLs of its roles (engram_app, engram_owner, postgres), for createTestPostgres. */
  server: PostgresServer;
  /** Fast shutdown: open connections are cut, as in a real outage. */
  stop(): Promise<void>;
  /** Starts it again (a no-op while it runs) and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops it and deletes its directory. */
  remove(): Promise<void>;
}

/**
 * A PostgreSQL cluster of the caller's own, for tests that stop the database: initdb into a fresh
 * directory inside the Debian root, on the given free port, run as that root's postgres user with
 * the same roles as scripts/services.sh. Stopping it touches no other PostgreSQL on the machine.
 */
export async function startOwnPostgres(port: number): Promise<OwnPostgres> {
  if (!existsSync(join(ROOT, BIN, "initdb"))) {
    throw new Error(`No PostgreSQL 17 in ${ROOT}: run \`bash scripts/services.sh\` (as root)`);
  }
  const hostDir = await mkdtemp(join(ROOT, "tmp", "engram-pg-"));
  const dir = `/tmp/${hostDir.slice(join(ROOT, "tmp").length + 1)}`; // the same, seen from inside
  const asPostgres = (cmd: string, args: string[]) =>
    runChecked("chroot", [ROOT, "runuser", "-u", "postgres", "--", `${BIN}/${cmd}`, ...args]);
  const options = [
    `-c port=${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dir}`,
    "-c max_connections=50",
    "-c shared_buffers=32MB",
  ].join(" ");
  const pgCtl = (...args: string[]) => asPostgres("pg_ctl", ["-D", `${dir}/data`, ...args]);
  const own: OwnPostgres = {
    server: {
      appUrl: `postgres://engram_app:engram_app@127.0.0.1:${port}/postgres`,
      ownerUrl: `postgres://engram_owner:engram_owner@127.0.0.1:${port}/postgres`,
      superuserUrl: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    },
    stop: async () => {
      await pgCtl("-m", "fast", "-w", "stop");
    },
    start: async () => {
      if (
        await pgCtl("status").then(
          () => true,
          () => false,
        )
      )
        return;
      await pgCtl("-o", options, "-l", `${dir}/postgresql.log`, "-w", "start");
    },
    remove: async () => {
      await pgCtl("-m", "immediate", "-w", "stop").catch(() => {}); // may be stopped already
      await rm(hostDir, { recursive: true, force: true });
    },
  };
  try {
    await writeFile(join(hostDir, "password"), "postgres\n");
    await runChecked("chroot", [ROOT, "chown", "-R", "postgres:postgres", dir]);
    await asPostgres("initdb", [
      ...["-D", `${dir}/data`, "-U", "postgres", "--pwfile", `${dir}/password`],
      ...["--auth-local=peer", "--auth-host=scram-sha-256", "--no-locale", "-E", "UTF8"],
    ]);
    await own.start();
    const client = new pg.Client({ connectionString: own.server.superuserUrl });
    await client.connect();
    try {
      await client.query(
        "CREATE ROLE engram_owner LOGIN PASSWORD 'engram_owner' NOSUPERUSER NOBYPASSRLS",
      );
      await client.query(
        "CREATE ROLE engram_app LOGIN PASSWORD 'engram_app' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE",
      );
    } finally {
      await client.end();
    }
    return own;
  } catch (err) {
    await own.remove();
    throw err;
  }
}
