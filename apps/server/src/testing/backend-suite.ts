import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe } from "node:test";
import pg from "pg";
import { migrateCommand } from "../cli/migrate.ts";
import { loadConfig } from "../config/config.ts";
import type { Queryable } from "../db/database.ts";
import { openPGliteDatabase } from "../db/pglite-database.ts";
import { type Reply, replyOf } from "./http.ts";
import { createTestPostgres } from "./test-postgres.ts";
import { ADMIN_TOKEN, startTestServer, type TestServer, tempDir } from "./test-server.ts";

/** Raw access to what a server stored, past row-level security. */
interface Storage {
  asOwner<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
}

/**
 * A database backend whose server can be stopped, its storage read directly, and started again
 * on the same data: the embedded data directory, or a PostgreSQL database (read as the local
 * superuser, since FORCE row-level security hides tenant rows from the schema owner).
 */
interface Backend {
  start(): Promise<TestServer>;
  inspect<T>(fn: (db: Storage) => Promise<T>): Promise<T>;
  /** The PostgreSQL database's URLs, for checks past the API; undefined when embedded. */
  database?: { appUrl: string; superuserUrl: string };
  cleanup(): Promise<void>;
}

const BACKENDS: { name: string; create: (env: Record<string, string>) => Promise<Backend> }[] = [
  {
    name: "pglite",
    create: async (env) => {
      const dataDir = tempDir();
      return {
        start: () => startTestServer({ ...env, ENGRAM_DATA_DIR: dataDir }),
        async inspect(fn) {
          // The embedded database allows one process at a time.
          const db = await openPGliteDatabase(join(dataDir, "pgdata"));
          try {
            return await fn(db);
          } finally {
            await db.close();
          }
        },
        async cleanup() {
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: "postgres",
    create: async (env) => {
      const database = await createTestPostgres();
      await migrateCommand(loadConfig({ ENGRAM_DATABASE_OWNER_URL: database.ownerUrl }));
      // Ours, so it survives the restarts (the admin token is given; nothing else is kept there).
      const dataDir = tempDir();
      return {
        start: () =>
          startTestServer({ ...env, DATABASE_URL: database.appUrl, ENGRAM_DATA_DIR: dataDir }),
        async inspect(fn) {
          const client = new pg.Client({ connectionString: database.superuserUrl });
          await client.connect();
          const tx: Queryable = {
            query: async <T>(sql: string, params?: readonly unknown[]) =>
              (await client.query(sql, params as unknown[] | undefined)).rows as T[],
            exec: async (sql) => {
              await client.query(sql);
            },
          };
          try {
            return await fn({ asOwner: (f) => f(tx) });
          } finally {
            await client.end();
          }
        },
        database,
        async cleanup() {
          await database.drop();
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
  },
];

/** A tenant made through the admin API: its id, first key (every scope) and default project. */
interface ProvisionedTestTenant {
  id: string;
  key: string;
  keyId: string;
  projectId: string;
}

/** What a suite's tests get: the running server and ways to call it and look past it. */
export interface BackendSuite {
  readonly srv: TestServer;
  /** The PostgreSQL database's URLs, for checks past the API; undefined when embedded. */
  readonly database: { appUrl: string; superuserUrl: string } | undefined;
  /** One raw request, so status, headers and bodies are asserted exactly as sent on the wire. */
  call(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<Reply & { text: string }>;
  /** A request with the admin token. */
  admin(method: string, path: string, body?: unknown): Promise<Reply & { text: string }>;
  /** A request with a tenant's API key. */
  as(
    key: string,
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Reply & { text: string }>;
  /** Creates a tenant (named "t" unless `body` says otherwise) through the admin API. */
  provision(body?: Record<string, unknown>): Promise<ProvisionedTestTenant>;
  /** Adds one memory for user "u" with the key. */
  add(key: string, text: string, headers?: Record<string, string>): Promise<Reply>;
  /** One metric of GET /v1/usage for the key's tenant. */
  metric(key: string, name: string): Promise<Record<string, unknown> & { used: number }>;
  /**
   * Stops the server (keeping its data), runs fn against the database it wrote, then starts the
   * server again on the same data.
   */
  withStoppedServer<T>(fn: (db: Storage) => Promise<T>): Promise<T>;
}

/** A name no other test uses. */
export const uniqueName = (label: string) => `${label}-${randomUUID()}`;

/**
 * Declares `body`'s tests once per backend (embedded, then PostgreSQL), each run against its own
 * server and database; `env` adds to the server's environment.
 */
export function describeOnBackends(
  title: string,
  body: (suite: BackendSuite) => void,
  env: Record<string, string> = {},
): void {
  for (const { name, create } of BACKENDS) {
    describe(`${title} on ${name}`, () => {
      let backend: Backend | undefined;
      let srv: TestServer | undefined;
      before(async () => {
        backend = await create(env);
        srv = await backend.start();
      });
      after(async () => {
        await srv?.close(true);
        await backend?.cleanup();
      });
      const running = () => {
        if (!srv) throw new Error("the suite's server is not running");
        return srv;
      };

      const call: BackendSuite["call"] = async (method, path, opts = {}) => {
        const headers: Record<string, string> = { ...opts.headers };
        if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
        const payload =
          opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
        if (payload !== undefined) headers["content-type"] = "application/json";
        const res = await fetch(`${running().url}${path}`, {
          method,
          headers,
          ...(payload !== undefined ? { body: payload } : {}),
        });
        return replyOf(res);
      };
      const admin: BackendSuite["admin"] = (method, path, body) =>
        call(method, path, { token: ADMIN_TOKEN, body });
      const as: BackendSuite["as"] = (key, method, path, body, headers) =>
        call(method, path, { token: key, body, ...(headers ? { headers } : {}) });

      body({
        get srv() {
          return running();
        },
        get database() {
          return backend?.database;
        },
        call,
        admin,
        as,
        async provision(tenant = {}) {
          const r = await admin("POST", "/v1/admin/tenants", { name: "t", ...tenant });
          assert.equal(r.status, 201, r.text);
          return {
            id: r.body.id,
            key: r.body.key.key,
            keyId: r.body.key.id,
            projectId: r.body.project.id,
          };
        },
        add: (key, text, headers) =>
          as(key, "POST", "/v1/memories", { text, user_id: "u" }, headers),
        async metric(key, name) {
          const r = await as(key, "GET", "/v1/usage");
          assert.equal(r.status, 200, r.text);
          return r.body.metrics.find((m: { metric: string }) => m.metric === name);
        },
        async withStoppedServer(fn) {
          await running().close(true);
          srv = undefined;
          try {
            return await (backend as Backend).inspect(fn);
          } finally {
            srv = await (backend as Backend).start();
          }
        },
      });
    });
  }
}
