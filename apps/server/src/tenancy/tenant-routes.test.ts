import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Scopes } from "@engram/contract";
import { EngramClient, EngramError } from "@engram/sdk";
import pg from "pg";
import { migrateCommand } from "../cli/migrate.ts";
import { loadConfig } from "../config/config.ts";
import type { Queryable } from "../db/database.ts";
import { openPGliteDatabase } from "../db/pglite-database.ts";
import { createTestPostgres } from "../testing/test-postgres.ts";
import {
  ADMIN_TOKEN,
  startTestServer,
  type TestServer,
  tempDir,
  UNLIMITED_TEST_PLAN,
} from "../testing/test-server.ts";

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
  cleanup(): Promise<void>;
}

const BACKENDS: { name: string; create: () => Promise<Backend> }[] = [
  {
    name: "pglite",
    create: async () => {
      const dataDir = tempDir();
      return {
        start: () => startTestServer({ ENGRAM_DATA_DIR: dataDir }),
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
    create: async () => {
      const database = await createTestPostgres();
      await migrateCommand(loadConfig({ ENGRAM_DATABASE_OWNER_URL: database.ownerUrl }));
      // Ours, so it survives the restarts (the admin token is given; nothing else is kept there).
      const dataDir = tempDir();
      return {
        start: () => startTestServer({ DATABASE_URL: database.appUrl, ENGRAM_DATA_DIR: dataDir }),
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
        async cleanup() {
          await database.drop();
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
  },
];

// Suites run one after the other, so the helpers below use whichever backend is current.
let backend: Backend;
let srv: TestServer;

const TEN_ID = /^ten_[0-9A-HJKMNP-TV-Z]{26}$/;
const KEY_ID = /^key_[0-9A-HJKMNP-TV-Z]{26}$/;
const UNKNOWN_TENANT = "ten_01ARZ3NDEKTSV4RRFFQ69G5FAV";

interface Reply {
  status: number;
  contentType: string;
  text: string;
  body: Record<string, unknown>;
}

/** One raw request, so status, headers and bodies are asserted exactly as sent on the wire. */
async function call(
  method: string,
  path: string,
  opts: { token?: string | undefined; body?: unknown; raw?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  const payload = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  if (payload !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${srv.url}${path}`, {
    method,
    headers,
    ...(payload !== undefined ? { body: payload } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get("content-type") ?? "",
    text,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

const admin = (method: string, path: string, body?: unknown) =>
  call(method, path, { token: ADMIN_TOKEN, body });

function assertProblem(r: Reply, status: number, code: string, field?: string) {
  assert.equal(r.status, status, r.text);
  assert.match(r.contentType, /^application\/problem\+json/);
  assert.equal(r.body.code, code, r.text);
  if (field !== undefined) assert.equal(r.body.field, field, r.text);
}

const uniqueName = (label: string) => `${label}-${randomUUID()}`;

async function createTenant(name = uniqueName("tenant")): Promise<string> {
  const r = await admin("POST", "/v1/admin/tenants", { name });
  assert.equal(r.status, 201, r.text);
  return r.body.id as string;
}

/**
 * Stops the server (keeping its data), runs fn against the database it wrote, then starts the
 * server again on the same data.
 */
async function withStoppedServer<T>(fn: (db: Storage) => Promise<T>): Promise<T> {
  await srv.close(true);
  try {
    return await backend.inspect(fn);
  } finally {
    srv = await backend.start();
  }
}

for (const { name, create } of BACKENDS) {
  describe(`tenant and key routes on ${name}`, () => {
    before(async () => {
      backend = await create();
      srv = await backend.start();
    });
    after(async () => {
      await srv?.close(true);
      await backend?.cleanup();
    });

    describe("POST /v1/admin/tenants", () => {
      test("happy: 201 with the tenant, its default project and first key, in one call", async () => {
        const name = uniqueName("Acme Inc. ✓");
        const before = Date.now();
        const r = await admin("POST", "/v1/admin/tenants", { name });
        assert.equal(r.status, 201, r.text);
        assert.match(r.contentType, /^application\/json/);
        assert.deepEqual(Object.keys(r.body).sort(), [
          "created_at",
          "id",
          "key",
          "name",
          "overrides",
          "plan",
          "project",
          "suspended",
          "suspended_reason",
        ]);
        assert.match(r.body.id as string, TEN_ID);
        assert.equal(r.body.name, name);
        assert.equal(r.body.plan, UNLIMITED_TEST_PLAN, "the server's default plan");
        assert.equal(r.body.suspended, false);
        const project = r.body.project as { id: string; name: string; is_default: boolean };
        assert.match(project.id, /^prj_[0-9A-HJKMNP-TV-Z]{26}$/);
        assert.equal(project.is_default, true);
        const key = r.body.key as { key: string; project_id: string; scopes: string[] };
        assert.match(key.key, /^egm_[A-Za-z0-9_-]{43}$/);
        assert.equal(key.project_id, project.id);
        assert.deepEqual(
          [...key.scopes].sort(),
          [...Scopes].sort(),
          "the first key has every scope",
        );
        // The first key works at once.
        const usage = await fetch(`${srv.url}/v1/usage`, {
          headers: { authorization: `Bearer ${key.key}` },
        });
        assert.equal(usage.status, 200);
        const created = Date.parse(r.body.created_at as string);
        assert.ok(created >= before - 5_000 && created <= Date.now() + 5_000, r.text);
      });

      test("happy: the SDK admin client creates distinct tenants", async () => {
        const a = await srv.admin.createTenant({ name: uniqueName("a") });
        const b = await srv.admin.createTenant({ name: uniqueName("b") });
        assert.match(a.id, TEN_ID);
        assert.notEqual(a.id, b.id);
      });

      test("error: missing name is 400 validation_failed naming the field", async () => {
        assertProblem(
          await admin("POST", "/v1/admin/tenants", {}),
          400,
          "validation_failed",
          "name",
        );
      });

      test("error: empty and too-long names are 400 naming the field", async () => {
        for (const name of ["", "x".repeat(201)]) {
          assertProblem(
            await admin("POST", "/v1/admin/tenants", { name }),
            400,
            "validation_failed",
            "name",
          );
        }
      });

      test("error: a non-string name is 400 naming the field", async () => {
        assertProblem(
          await admin("POST", "/v1/admin/tenants", { name: 42 }),
          400,
          "validation_failed",
          "name",
        );
      });

      test("error: an unknown field is 400 naming it", async () => {
        const r = await admin("POST", "/v1/admin/tenants", { name: uniqueName("x"), plan: "pro" });
        assertProblem(r, 400, "validation_failed", "plan");
      });

      test("error: malformed JSON is 400 invalid_json", async () => {
        const r = await call("POST", "/v1/admin/tenants", { token: ADMIN_TOKEN, raw: '{"name": ' });
        assertProblem(r, 400, "invalid_json");
      });

      test("error: a JSON array body is 400 validation_failed", async () => {
        const r = await call("POST", "/v1/admin/tenants", { token: ADMIN_TOKEN, raw: "[]" });
        assertProblem(r, 400, "validation_failed");
      });
    });

    describe("POST /v1/admin/tenants/{tenant_id}/keys", () => {
      test("happy: 201 with an egm_ key, its prefix, its project and every scope by default", async () => {
        const tenantId = await createTenant();
        const r = await admin("POST", `/v1/admin/tenants/${tenantId}/keys`, {});
        assert.equal(r.status, 201, r.text);
        assert.deepEqual(Object.keys(r.body).sort(), [
          "created_at",
          "expires_at",
          "id",
          "key",
          "last_used_at",
          "name",
          "prefix",
          "project_id",
          "revoked_at",
          "scopes",
        ]);
        assert.match(r.body.id as string, KEY_ID);
        const key = r.body.key as string;
        assert.match(key, /^egm_[A-Za-z0-9_-]{43}$/);
        const prefix = r.body.prefix as string;
        assert.ok(prefix.length >= 8 && prefix.length < key.length, prefix);
        assert.ok(key.startsWith(prefix), "prefix is the start of the key");
        assert.deepEqual([...(r.body.scopes as string[])].sort(), [...Scopes].sort());
        assert.equal(r.body.name, null);
        assert.ok(!Number.isNaN(Date.parse(r.body.created_at as string)));
      });

      test("happy: a name and chosen scopes are kept, and every key is different", async () => {
        const tenantId = await createTenant();
        const a = await srv.admin.createKey(tenantId, {
          name: "reader",
          scopes: ["memories:read"],
        });
        assert.equal(a.name, "reader");
        assert.deepEqual(a.scopes, ["memories:read"]);
        const b = await srv.admin.createKey(tenantId, { scopes: ["memories:write"] });
        assert.deepEqual(b.scopes, ["memories:write"]);
        assert.notEqual(a.key, b.key);
        assert.notEqual(a.id, b.id);
      });

      test("happy: the key works as soon as it is created, within its scopes", async () => {
        const tenantId = await createTenant();
        const readOnly = await srv.admin.createKey(tenantId, { scopes: ["memories:read"] });
        const reader = new EngramClient({ baseUrl: srv.url, token: readOnly.key });
        assert.deepEqual((await reader.listMemories()).results, []);
        await assert.rejects(
          reader.addMemory({ text: "I like tea" }),
          (err: unknown) =>
            err instanceof EngramError && err.status === 403 && err.code === "forbidden",
        );

        const full = await srv.admin.createKey(tenantId);
        const writer = new EngramClient({ baseUrl: srv.url, token: full.key });
        const added = await writer.addMemory({ text: "I like tea", user_id: "u1" });
        assert.equal(added.results[0]?.event, "ADD");
        // Both keys belong to the same tenant, so the read-only key sees what the other one wrote.
        const listed = await reader.listMemories({ user_id: "u1" });
        assert.deepEqual(
          listed.results.map((m) => m.memory),
          ["I like tea"],
        );
      });

      test("error: an unknown scope is 400 naming the field", async () => {
        const tenantId = await createTenant();
        for (const scopes of [
          ["memories:delete"],
          ["admin"],
          [],
          ["memories:read", "memories:read"],
        ]) {
          const r = await admin("POST", `/v1/admin/tenants/${tenantId}/keys`, { scopes });
          assertProblem(r, 400, "validation_failed");
          assert.match(String(r.body.field), /^scopes/, r.text);
        }
      });

      test("error: unknown fields and a too-long name are 400", async () => {
        const tenantId = await createTenant();
        const path = `/v1/admin/tenants/${tenantId}/keys`;
        assertProblem(
          await admin("POST", path, { tenant_id: tenantId }),
          400,
          "validation_failed",
          "tenant_id",
        );
        assertProblem(
          await admin("POST", path, { name: "n".repeat(201) }),
          400,
          "validation_failed",
          "name",
        );
      });

      test("error: malformed JSON is 400 invalid_json", async () => {
        const tenantId = await createTenant();
        const r = await call("POST", `/v1/admin/tenants/${tenantId}/keys`, {
          token: ADMIN_TOKEN,
          raw: "{scopes:",
        });
        assertProblem(r, 400, "invalid_json");
      });

      test("error: at the plan's api_keys limit, 402 quota_exceeded with metric, limit and used; nothing is created", async () => {
        const r = await admin("POST", "/v1/admin/tenants", {
          name: uniqueName("key-limit"),
          plan: "developer",
          overrides: { api_keys: 2 },
        });
        const tenantId = r.body.id as string;
        const path = `/v1/admin/tenants/${tenantId}/keys`;
        assert.equal((await admin("POST", path, { name: "second" })).status, 201);
        const refused = await admin("POST", path, { name: "third" });
        assertProblem(refused, 402, "quota_exceeded");
        assert.deepEqual(
          [refused.body.metric, refused.body.limit, refused.body.used],
          ["api_keys", 2, 2],
        );
        assert.match(
          String(refused.body.detail),
          /allows 2 active API key\(s\); this tenant has 2/,
        );
        await withStoppedServer(async (db) => {
          const rows = await db.asOwner((tx) =>
            tx.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM api_keys WHERE tenant_id = $1",
              [tenantId],
            ),
          );
          assert.equal(rows[0]?.n, 2);
        });
      });

      test("error: an unknown tenant id is 404, well-formed or not", async () => {
        for (const id of [UNKNOWN_TENANT, "ten_nope", "mem_01ARZ3NDEKTSV4RRFFQ69G5FAV", "acme"]) {
          const r = await admin("POST", `/v1/admin/tenants/${encodeURIComponent(id)}/keys`, {});
          assertProblem(r, 404, "not_found");
          assert.ok(String(r.body.detail).includes(id), r.text);
        }
      });
    });

    describe("admin routes: security", () => {
      test("no token is 401 on both admin routes", async () => {
        const tenantId = await createTenant();
        assertProblem(
          await call("POST", "/v1/admin/tenants", { body: { name: "x" } }),
          401,
          "unauthenticated",
        );
        assertProblem(
          await call("POST", `/v1/admin/tenants/${tenantId}/keys`, { body: {} }),
          401,
          "unauthenticated",
        );
      });

      test("a wrong admin token or a non-bearer scheme is 401", async () => {
        const tenantId = await createTenant();
        for (const token of [`${ADMIN_TOKEN}x`, ADMIN_TOKEN.slice(0, -1), "egm_admin_guess"]) {
          const r = await call("POST", "/v1/admin/tenants", { token, body: { name: "x" } });
          assertProblem(r, 401, "unauthenticated");
          assert.ok(!r.text.includes(token), "the presented token is not echoed");
          assertProblem(
            await call("POST", `/v1/admin/tenants/${tenantId}/keys`, { token, body: {} }),
            401,
            "unauthenticated",
          );
        }
        const basic = await fetch(`${srv.url}/v1/admin/tenants`, {
          method: "POST",
          headers: { authorization: `Basic ${ADMIN_TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ name: "x" }),
        });
        assert.equal(basic.status, 401);
      });

      test("a tenant API key on admin routes is refused and creates nothing", async () => {
        const tenantId = await createTenant();
        const { key } = await srv.admin.createKey(tenantId);
        const sneakyName = uniqueName("created-with-a-tenant-key");

        const t = await call("POST", "/v1/admin/tenants", {
          token: key,
          body: { name: sneakyName },
        });
        assert.ok(t.status === 403 || t.status === 401, t.text);
        assert.ok(["forbidden", "unauthenticated"].includes(t.body.code as string), t.text);
        assert.ok(!t.text.includes(key), "the key is not echoed");

        const k = await call("POST", `/v1/admin/tenants/${tenantId}/keys`, {
          token: key,
          body: { name: sneakyName },
        });
        assert.ok(k.status === 403 || k.status === 401, k.text);
        assert.ok(!k.text.includes(key), "the key is not echoed");

        await withStoppedServer(async (db) => {
          const rows = await db.asOwner((tx) =>
            tx.query<{ n: number }>(
              "SELECT (SELECT count(*) FROM tenants WHERE name = $1)::int + " +
                "(SELECT count(*) FROM api_keys WHERE name = $1)::int AS n",
              [sneakyName],
            ),
          );
          assert.equal(rows[0]?.n, 0);
        });
      });

      test("the admin token on tenant routes is 401", async () => {
        const r = await call("POST", "/v1/memories", {
          token: ADMIN_TOKEN,
          body: { text: "hello" },
        });
        assertProblem(r, 401, "unauthenticated");
        assert.ok(!r.text.includes(ADMIN_TOKEN));
        assertProblem(
          await call("GET", "/v1/memories", { token: ADMIN_TOKEN }),
          401,
          "unauthenticated",
        );
      });
    });

    describe("API key storage", () => {
      test("the secret is stored only as its SHA-256 hash and keeps working after a restart", async () => {
        const tenantId = await createTenant();
        const created = await srv.admin.createKey(tenantId, { name: "stored-hashed" });
        const secret = created.key;
        const expectedHash = createHash("sha256").update(secret).digest();

        await withStoppedServer(async (db) => {
          const rows = await db.asOwner((tx) =>
            tx.query<Record<string, unknown>>("SELECT * FROM api_keys WHERE id = $1", [created.id]),
          );
          assert.equal(rows.length, 1);
          const row = rows[0] as Record<string, unknown>;
          assert.equal(row.tenant_id, tenantId);
          assert.equal(row.prefix, created.prefix);
          assert.ok(secret.length > created.prefix.length + 32, "the prefix is not the secret");
          const hash = row.key_hash as Uint8Array;
          assert.ok(Buffer.from(hash).equals(expectedHash), "key_hash is sha256(secret)");
          // No column, in any encoding Postgres would print it, holds the secret.
          for (const [column, value] of Object.entries(row)) {
            const text =
              value instanceof Uint8Array ? Buffer.from(value).toString("latin1") : value;
            assert.ok(!JSON.stringify(text ?? null).includes(secret), `column ${column}`);
          }
          // Nor does any other text column in the database.
          const hits = await db.asOwner(async (tx) => {
            const columns = await tx.query<{ table_name: string; column_name: string }>(
              `SELECT table_name, column_name FROM information_schema.columns
               WHERE table_schema = 'public' AND data_type IN ('text', 'jsonb', 'character varying')`,
            );
            let n = 0;
            for (const c of columns) {
              const [r] = await tx.query<{ n: number }>(
                `SELECT count(*)::int AS n FROM "${c.table_name}" WHERE "${c.column_name}"::text LIKE $1`,
                [`%${secret.slice(created.prefix.length)}%`],
              );
              n += r?.n ?? 0;
            }
            return n;
          });
          assert.equal(hits, 0);
        });

        // The restarted server authenticates the same secret from its hash.
        const client = new EngramClient({ baseUrl: srv.url, token: secret });
        assert.deepEqual((await client.listMemories()).results, []);
      });

      test("every scope the contract lists can be granted", async () => {
        const tenantId = await createTenant();
        for (const scope of Scopes) {
          const k = await srv.admin.createKey(tenantId, { scopes: [scope] });
          assert.deepEqual(k.scopes, [scope]);
        }
      });
    });
  });
}
