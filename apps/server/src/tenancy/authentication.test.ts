import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { EngramClient } from "@engram/sdk";
import { describeOnBackends, uniqueName } from "../testing/backend-suite.ts";
import { assertProblem } from "../testing/http.ts";
import { ADMIN_TOKEN } from "../testing/test-server.ts";

describeOnBackends("authentication", (suite) => {
  const { call, provision, withStoppedServer } = suite;
  const createTenant = async () => (await provision({ name: uniqueName("tenant") })).id;

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
      const basic = await fetch(`${suite.srv.url}/v1/admin/tenants`, {
        method: "POST",
        headers: { authorization: `Basic ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "x" }),
      });
      assert.equal(basic.status, 401);
    });

    test("a tenant API key on admin routes is refused and creates nothing", async () => {
      const tenantId = await createTenant();
      const { key } = await suite.srv.admin.createKey(tenantId);
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
      const created = await suite.srv.admin.createKey(tenantId, { name: "stored-hashed" });
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
          const text = value instanceof Uint8Array ? Buffer.from(value).toString("latin1") : value;
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
      const client = new EngramClient({ baseUrl: suite.srv.url, token: secret });
      assert.deepEqual((await client.listMemories()).results, []);
    });
  });
});
