import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import pg from "pg";

// Test harness, not app code: it may read the environment. Defaults are what scripts/services.sh
// sets up and prints.
const APP_URL =
  process.env.ENGRAM_TEST_DATABASE_URL ??
  "postgres://engram_app:engram_app@127.0.0.1:5433/engram_test";
const OWNER_URL =
  process.env.ENGRAM_TEST_DATABASE_OWNER_URL ??
  "postgres://engram_owner:engram_owner@127.0.0.1:5433/engram_test";
/** Only the harness uses the superuser: to create per-file databases with pgvector, and to drop them. */
const SUPERUSER_URL =
  process.env.ENGRAM_TEST_DATABASE_SUPERUSER_URL ?? withDatabase(withUser(APP_URL), "postgres");

const PREFIX = "engram_t_";
const STALE_AFTER_S = 6 * 3600;

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function withUser(url: string): string {
  const u = new URL(url);
  u.username = "postgres";
  u.password = "postgres";
  return u.toString();
}

async function asSuperuser<T>(fn: (client: pg.Client) => Promise<T>, database = "postgres") {
  const client = new pg.Client({ connectionString: withDatabase(SUPERUSER_URL, database) });
  try {
    await client.connect();
  } catch (err) {
    // Never skip: a missing PostgreSQL must fail the run loudly.
    throw new Error(
      `PostgreSQL for the cluster-mode tests is not reachable at ${new URL(SUPERUSER_URL).host} ` +
        `(${(err as Error).message}): start it with \`bash scripts/services.sh\``,
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface TestPostgres {
  name: string;
  /** The application role (engram_app) on this database. */
  appUrl: string;
  /** The schema owner (engram_owner) on this database. */
  ownerUrl: string;
  /** The local superuser on this database: sees every row (for tests that inspect storage). */
  superuserUrl: string;
  drop(): Promise<void>;
}

/**
 * A fresh, empty database for one test file, owned by the owner role, with pgvector created (it
 * is not a trusted extension). Per-file databases keep concurrent runs (other developers', CI's)
 * from seeing or wiping each other's rows; ones left behind by a killed run are swept later.
 */
export async function createTestPostgres(): Promise<TestPostgres> {
  const name = `${PREFIX}${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString("hex")}`;
  const owner = new URL(OWNER_URL).username;
  await asSuperuser(async (client) => {
    await sweepStale(client);
    await client.query(`CREATE DATABASE ${name} OWNER ${pg.escapeIdentifier(owner)}`);
  });
  await asSuperuser((client) => client.query("CREATE EXTENSION vector"), name);
  return {
    name,
    appUrl: withDatabase(APP_URL, name),
    ownerUrl: withDatabase(OWNER_URL, name),
    superuserUrl: withDatabase(SUPERUSER_URL, name),
    drop: () =>
      asSuperuser(async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}

async function sweepStale(client: pg.Client) {
  const { rows } = await client.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname LIKE $1",
    [`${PREFIX}%`],
  );
  const now = Date.now() / 1000;
  for (const { datname } of rows) {
    const created = Number(datname.slice(PREFIX.length).split("_")[0]);
    if (!(now - created > STALE_AFTER_S)) continue;
    // Without FORCE: a database someone is still connected to is left alone.
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)}`).catch(() => {});
  }
}

// The PostgreSQL that scripts/services.sh runs, inside its Debian root, for outage tests.
const ROOT = process.env.ENGRAM_PG_ROOT ?? "/var/cache/engram/trixie-root";
const PG_CTL = "/usr/lib/postgresql/17/bin/pg_ctl";
const PGDATA = "/var/lib/postgresql/17/main";

function pgCtl(args: string[]) {
  return execFileSync(
    "chroot",
    [ROOT, "runuser", "-u", "postgres", "--", PG_CTL, "-D", PGDATA, ...args],
    {
      stdio: ["ignore", "pipe", "pipe"],
      encoding: "utf8",
    },
  );
}

/** Stops the test PostgreSQL (fast shutdown: open connections are terminated). */
export function stopPostgres() {
  pgCtl(["-m", "fast", "-w", "stop"]);
}

/** Starts the test PostgreSQL unless it is running; waits until it accepts connections. */
export function startPostgres() {
  try {
    pgCtl(["status"]);
    return;
  } catch {
    // not running
  }
  pgCtl([
    "-o",
    "-c config_file=/etc/postgresql/17/main/postgresql.conf",
    "-l",
    "/var/log/postgresql/postgresql-17-main.log",
    "-w",
    "start",
  ]);
}
