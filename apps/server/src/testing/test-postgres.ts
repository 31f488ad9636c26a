import { randomBytes } from "node:crypto";
import pg from "pg";

// Test harness, not app code: it may read the environment. Defaults are what scripts/services.sh
// sets up and prints. Tests and benchmarks open, create and drop their PostgreSQL databases here.
const APP_URL =
  process.env.ENGRAM_TEST_DATABASE_URL ??
  "postgres://engram_app:engram_app@127.0.0.1:5433/engram_test";
const OWNER_URL =
  process.env.ENGRAM_TEST_DATABASE_OWNER_URL ??
  "postgres://engram_owner:engram_owner@127.0.0.1:5433/engram_test";
/** Only the harness uses the superuser: to create per-file databases with pgvector, and to drop them. */
const SUPERUSER_URL =
  process.env.ENGRAM_TEST_DATABASE_SUPERUSER_URL ?? withDatabase(withUser(APP_URL), "postgres");

/** A PostgreSQL server the harness makes databases on: its three roles' URLs (any database). */
export interface PostgresServer {
  appUrl: string;
  ownerUrl: string;
  superuserUrl: string;
}

/** The PostgreSQL of scripts/services.sh (or the ENGRAM_TEST_DATABASE_* URLs). */
export const SHARED_POSTGRES: PostgresServer = {
  appUrl: APP_URL,
  ownerUrl: OWNER_URL,
  superuserUrl: SUPERUSER_URL,
};

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

/**
 * Runs `fn` on a connection of its own to `url`, closed after. A PostgreSQL that cannot be reached
 * fails the run loudly; tests and benchmarks never skip for it.
 */
export async function withPgClient<T>(
  url: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL for the cluster-mode tests is not reachable at ${new URL(url).host} ` +
        `(${(err as Error).message}): start it with \`bash scripts/services.sh\``,
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const asSuperuser = <T>(
  server: PostgresServer,
  fn: (client: pg.Client) => Promise<T>,
  database = "postgres",
) => withPgClient(withDatabase(server.superuserUrl, database), fn);

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

/** The database `name` on `server`, whether or not it exists yet. */
function databaseOn(server: PostgresServer, name: string): TestPostgres {
  return {
    name,
    appUrl: withDatabase(server.appUrl, name),
    ownerUrl: withDatabase(server.ownerUrl, name),
    superuserUrl: withDatabase(server.superuserUrl, name),
    drop: () =>
      asSuperuser(server, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      }),
  };
}

/** Creates database `name` empty, owned by the owner role, with pgvector (not a trusted extension). */
async function createDatabase(server: PostgresServer, name: string, replace: boolean) {
  const owner = new URL(server.ownerUrl).username;
  const database = databaseOn(server, name);
  await asSuperuser(server, async (client) => {
    if (replace)
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    else await sweepStale(client);
    await client.query(
      `CREATE DATABASE ${pg.escapeIdentifier(name)} OWNER ${pg.escapeIdentifier(owner)}`,
    );
  });
  await asSuperuser(server, (client) => client.query("CREATE EXTENSION vector"), name);
  return database;
}

/**
 * A fresh, empty database for one test file (or benchmark run), dropped by its drop(). Per-file
 * databases keep concurrent runs (other developers', CI's) from seeing or wiping each other's
 * rows; ones left behind by a killed run are swept later.
 */
export function createTestPostgres(
  server: PostgresServer = SHARED_POSTGRES,
): Promise<TestPostgres> {
  const name = `${PREFIX}${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString("hex")}`;
  return createDatabase(server, name, false);
}

// Databases a benchmark keeps between runs under a name of its own (its seeded data sets): never
// one of the swept per-run names.
function keptName(name: string): string {
  if (name.startsWith(PREFIX)) throw new Error(`${name}: ${PREFIX}* databases are swept`);
  return name;
}

/** Creates the kept database `name` empty, dropping an earlier one of that name first. */
export function replaceKeptPostgres(
  name: string,
  server: PostgresServer = SHARED_POSTGRES,
): Promise<TestPostgres> {
  return createDatabase(server, keptName(name), true);
}

/** The kept database `name`, or undefined if there is none. */
export async function findKeptPostgres(
  name: string,
  server: PostgresServer = SHARED_POSTGRES,
): Promise<TestPostgres | undefined> {
  const exists = await asSuperuser(server, async (client) => {
    const r = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [keptName(name)]);
    return r.rowCount === 1;
  });
  return exists ? databaseOn(server, name) : undefined;
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
