import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Scopes } from "@engram/contract";
import pg from "pg";
import { describeOnBackends, uniqueName } from "../testing/backend-suite.ts";
import { assertProblem } from "../testing/http.ts";
import { ADMIN_TOKEN, UNLIMITED_TEST_PLAN } from "../testing/test-server.ts";

const TEN_ID = /^ten_[0-9A-HJKMNP-TV-Z]{26}$/;

describeOnBackends("tenants", (suite) => {
  const { admin, as, call, provision, add, metric } = suite;

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
      assert.deepEqual([...key.scopes].sort(), [...Scopes].sort(), "the first key has every scope");
      // The first key works at once.
      const usage = await fetch(`${suite.srv.url}/v1/usage`, {
        headers: { authorization: `Bearer ${key.key}` },
      });
      assert.equal(usage.status, 200);
      const created = Date.parse(r.body.created_at as string);
      assert.ok(created >= before - 5_000 && created <= Date.now() + 5_000, r.text);
    });

    test("happy: the SDK admin client creates distinct tenants", async () => {
      const a = await suite.srv.admin.createTenant({ name: uniqueName("a") });
      const b = await suite.srv.admin.createTenant({ name: uniqueName("b") });
      assert.match(a.id, TEN_ID);
      assert.notEqual(a.id, b.id);
    });

    test("error: missing name is 400 validation_failed naming the field", async () => {
      assertProblem(await admin("POST", "/v1/admin/tenants", {}), 400, "validation_failed", "name");
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

  describe("provisioning and deletion", () => {
    test("one call creates tenant, default project, first key and usage row; it is audited", async () => {
      const t = await provision({ plan: "starter" });
      const usage = await as(t.key, "GET", "/v1/usage");
      assert.equal(usage.body.plan, "starter");
      const projects = await as(t.key, "GET", "/v1/projects");
      assert.deepEqual(
        projects.body.results.map((p: { id: string }) => p.id),
        [t.projectId],
      );
      const audit = await as(t.key, "GET", "/v1/audit");
      assert.deepEqual(
        audit.body.results.map((e: { action: string }) => e.action),
        ["tenant.create"],
      );
      assert.equal(audit.body.results[0].actor, "admin");
    });

    test("errors: unknown plan and bad overrides are 400 naming the field; nothing is created", async () => {
      assertProblem(
        await admin("POST", "/v1/admin/tenants", { name: "x", plan: "platinum" }),
        400,
        "validation_failed",
        "plan",
      );
      assertProblem(
        await admin("POST", "/v1/admin/tenants", { name: "x", overrides: { projects: -1 } }),
        400,
        "validation_failed",
        "overrides.projects",
      );
      assertProblem(
        await admin("POST", "/v1/admin/tenants", { name: "x", overrides: { seats: 3 } }),
        400,
        "validation_failed",
        "overrides.seats",
      );
    });

    test("deleting a tenant removes all its data and returns a receipt with the counts", async () => {
      const t = await provision();
      const other = await provision();
      for (const text of ["a", "b", "c"]) assert.equal((await add(t.key, text)).status, 201);
      assert.equal((await add(other.key, "kept")).status, 201);
      const own = [{ name: "work", description: "Jobs" }];
      assert.equal((await as(t.key, "PUT", "/v1/categories", { categories: own })).status, 200);
      const r = await admin("DELETE", `/v1/admin/tenants/${t.id}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.tenant_id, t.id);
      assert.equal(r.body.removed.memories, 3);
      assert.equal(r.body.removed.memory_history, 3);
      assert.equal(r.body.removed.api_keys, 1);
      assert.equal(r.body.removed.projects, 1);
      assert.equal(r.body.removed.project_categories, 1);
      assert.equal(r.body.removed.tenants, 1);
      assert.ok(r.body.removed.audit_events >= 1);
      assert.ok(r.body.removed.usage_events >= 3);
      assertProblem(await as(t.key, "GET", "/v1/memories"), 401, "unauthenticated");
      assertProblem(await admin("GET", `/v1/admin/tenants/${t.id}`), 404, "not_found");
      assertProblem(await admin("DELETE", `/v1/admin/tenants/${t.id}`), 404, "not_found");
      const kept = await as(other.key, "GET", "/v1/memories");
      assert.equal(kept.body.results.length, 1);
      if (suite.database) {
        // Past row-level security: no row of any table still names the tenant.
        const c = new pg.Client({ connectionString: suite.database.superuserUrl });
        await c.connect();
        try {
          const tables = await c.query<{ table_name: string }>(
            `SELECT table_name FROM information_schema.columns
             WHERE column_name = 'tenant_id' AND table_schema = 'public'
               AND table_name <> 'tenant_deletions'`,
          );
          assert.ok(tables.rows.length >= 10);
          for (const { table_name } of tables.rows) {
            const n = await c.query(`SELECT 1 FROM ${table_name} WHERE tenant_id = $1`, [t.id]);
            assert.equal(n.rowCount, 0, table_name);
          }
        } finally {
          await c.end();
        }
      }
    });
  });

  describe("plans, suspension and the admin API", () => {
    test("the admin lists every tenant, newest first, by cursor; tenant keys get 403", async () => {
      const made = [await provision(), await provision(), await provision()];
      const first = await admin("GET", "/v1/admin/tenants?limit=2");
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.deepEqual(
        first.body.results.map((t: { id: string }) => t.id),
        [made[2]?.id, made[1]?.id],
      );
      assert.ok(first.body.next_cursor);
      const next = await admin("GET", `/v1/admin/tenants?limit=1&cursor=${first.body.next_cursor}`);
      assert.equal(next.body.results[0].id, made[0]?.id);
      assert.deepEqual([next.body.results[0].name, next.body.results[0].suspended], ["t", false]);
      assertProblem(await admin("GET", "/v1/admin/tenants?cursor=bad"), 400, "validation_failed");
      assertProblem(await admin("GET", "/v1/admin/tenants?limit=0"), 400, "validation_failed");
      assertProblem(await as(made[0]?.key as string, "GET", "/v1/admin/tenants"), 403, "forbidden");
    });

    test("lists the shipped plans", async () => {
      const r = await admin("GET", "/v1/admin/plans");
      const ids = r.body.results.map((p: { id: string }) => p.id);
      for (const id of ["developer", "starter", "growth", "enterprise"])
        assert.ok(ids.includes(id));
      const dev = r.body.results.find((p: { id: string }) => p.id === "developer");
      assert.equal(dev.limits.memory_operations, 1000);
      assert.equal(dev.limits.active_memories, 2500);
      assert.equal(dev.limits.storage_bytes, 1_000_000_000);
      assert.equal(dev.limits.api_keys, 5);
      assert.deepEqual(dev.rate_limit, {
        requests: 100,
        window_seconds: 3600,
        tenant_requests: 500,
      });
      const enterprise = r.body.results.find((p: { id: string }) => p.id === "enterprise");
      assert.equal(enterprise.limits.api_keys, null);
    });

    test("plan changes and overrides apply at once and are audited", async () => {
      const t = await provision({ plan: "developer" });
      assert.equal((await metric(t.key, "memory_operations")).limit, 1000);
      const r = await admin("PATCH", `/v1/admin/tenants/${t.id}`, {
        plan: "starter",
        overrides: { active_memories: 7 },
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.plan, "starter");
      assert.equal((await metric(t.key, "memory_operations")).limit, 100_000);
      assert.equal((await metric(t.key, "active_memories")).limit, 7);
      const audit = (await as(t.key, "GET", "/v1/audit")).body.results;
      const change = audit.find(
        (e: { action: string; details: { from?: string } }) =>
          e.action === "tenant.plan_change" && e.details.from,
      );
      assert.deepEqual(change.details, { from: "developer", to: "starter" });
    });

    test("a suspended tenant gets 403 tenant_suspended on every tenant route, until reinstated", async () => {
      const t = await provision();
      // Used first, so an embedded server remembers the key's lookup (ADR 0041) before the change.
      assert.equal((await as(t.key, "GET", "/v1/memories")).status, 200);
      const s = await admin("PATCH", `/v1/admin/tenants/${t.id}`, {
        suspended: true,
        suspended_reason: "unpaid invoice",
      });
      assert.equal(s.body.suspended, true);
      for (const [method, path] of [
        ["GET", "/v1/memories"],
        ["POST", "/v1/memories/search"],
        ["GET", "/v1/usage"],
      ] as const) {
        const r = await as(t.key, method, path, method === "POST" ? { query: "x" } : undefined);
        assertProblem(r, 403, "tenant_suspended");
        assert.match(r.body.detail, /unpaid invoice/);
      }
      await admin("PATCH", `/v1/admin/tenants/${t.id}`, { suspended: false });
      assert.equal((await as(t.key, "GET", "/v1/memories")).status, 200);
      const actions = (await as(t.key, "GET", "/v1/audit")).body.results.map(
        (e: { action: string }) => e.action,
      );
      assert.deepEqual(actions.slice(0, 2), ["tenant.unsuspend", "tenant.suspend"]);
    });

    test("errors: an empty or contradictory patch is 400; unknown tenant ids are 404; tenant keys get 403", async () => {
      const t = await provision();
      assertProblem(
        await admin("PATCH", `/v1/admin/tenants/${t.id}`, {}),
        400,
        "validation_failed",
      );
      assertProblem(
        await admin("PATCH", `/v1/admin/tenants/${t.id}`, { suspended_reason: "x" }),
        400,
        "validation_failed",
        "suspended_reason",
      );
      for (const id of ["ten_01JZZZZZZZZZZZZZZZZZZZZZZZ", "nope"]) {
        assertProblem(await admin("GET", `/v1/admin/tenants/${id}`), 404, "not_found");
        assertProblem(
          await admin("PATCH", `/v1/admin/tenants/${id}`, { name: "x" }),
          404,
          "not_found",
        );
        assertProblem(await admin("DELETE", `/v1/admin/tenants/${id}`), 404, "not_found");
        assertProblem(
          await admin("GET", `/v1/admin/tenants/${id}/invoice-preview`),
          404,
          "not_found",
        );
      }
      assertProblem(await as(t.key, "GET", `/v1/admin/tenants/${t.id}`), 403, "forbidden");
      assertProblem(await as(t.key, "DELETE", `/v1/admin/tenants/${t.id}`), 403, "forbidden");
      assertProblem(await call("GET", "/v1/usage", { token: ADMIN_TOKEN }), 401, "unauthenticated");
    });
  });

  describe("isolation", () => {
    test("cross-tenant matrix: every route taking an id answers 404 for another tenant's ids", async () => {
      const a = await provision({ plan: "growth" });
      const b = await provision({ plan: "growth" });
      const bMemory = (await add(b.key, "B's secret")).body.results[0].id;
      const bKey = (await as(b.key, "POST", "/v1/keys", { scopes: ["memories:read"] })).body;
      const cases: [string, string, unknown?][] = [
        ["GET", `/v1/memories/${bMemory}`],
        ["PATCH", `/v1/memories/${bMemory}`, { text: "mine now" }],
        ["DELETE", `/v1/memories/${bMemory}`],
        ["GET", `/v1/memories/${bMemory}/history`],
        ["DELETE", `/v1/keys/${bKey.id}`],
        ["DELETE", `/v1/keys/${b.keyId}`],
        ["POST", "/v1/keys", { project_id: b.projectId }],
      ];
      for (const [method, path, body] of cases) {
        assertProblem(await as(a.key, method, path, body), 404, "not_found");
      }
      // B's objects are untouched.
      assert.equal((await as(b.key, "GET", `/v1/memories/${bMemory}`)).body.memory, "B's secret");
      assert.equal((await as(bKey.key, "GET", "/v1/memories")).status, 200);
      const auditA = (await as(a.key, "GET", "/v1/audit")).body.results;
      assert.ok(auditA.every((e: { target_id: string | null }) => e.target_id !== bKey.id));
    });

    test("the audit log pages by cursor, and the application role cannot change or delete it", async () => {
      const t = await provision();
      for (let i = 0; i < 3; i++) await as(t.key, "POST", "/v1/keys", { name: `k${i}` });
      const first = await as(t.key, "GET", "/v1/audit?limit=2");
      assert.equal(first.body.results.length, 2);
      assert.ok(first.body.next_cursor);
      const second = await as(t.key, "GET", `/v1/audit?limit=2&cursor=${first.body.next_cursor}`);
      assert.equal(second.body.results.length, 2);
      assert.equal(second.body.next_cursor, null);
      const all = [...first.body.results, ...second.body.results].map(
        (e: { action: string }) => e.action,
      );
      assert.deepEqual(all, ["key.create", "key.create", "key.create", "tenant.create"]);
      assertProblem(await as(t.key, "GET", "/v1/audit?cursor=bad"), 400, "validation_failed");
      if (suite.database) {
        const c = new pg.Client({ connectionString: suite.database.appUrl });
        await c.connect();
        try {
          await c.query("BEGIN");
          await c.query("SELECT set_config('app.tenant_id', $1, true)", [t.id]);
          await assert.rejects(
            c.query("UPDATE audit_events SET action = 'forged'"),
            /permission denied/,
          );
          await c.query("ROLLBACK");
          await c.query("BEGIN");
          await c.query("SELECT set_config('app.tenant_id', $1, true)", [t.id]);
          await assert.rejects(c.query("DELETE FROM audit_events"), /permission denied/);
          await c.query("ROLLBACK");
        } finally {
          await c.end();
        }
      }
    });
  });
});
