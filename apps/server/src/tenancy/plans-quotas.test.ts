import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Scopes } from "@engram/contract";
import pg from "pg";
import { call, type Reply } from "../testing/http.ts";
import {
  ADMIN_TOKEN,
  startPostgresTestServer,
  startTestServer,
  type TestServer,
  TINY_TEST_PLAN,
} from "../testing/test-server.ts";

type Server = TestServer & { database?: { appUrl: string; superuserUrl: string } };

const backends: { name: string; start: () => Promise<Server> }[] = [
  { name: "pglite", start: () => startTestServer() },
  // The API process consumes the ingestion queue itself here, so documents get indexed.
  { name: "postgres", start: () => startPostgresTestServer({ ENGRAM_INGEST_IN_PROCESS: "on" }) },
];

function assertProblem(r: Reply, status: number, code: string, field?: string) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.match(r.contentType, /^application\/problem\+json/);
  assert.equal(r.body.code, code, JSON.stringify(r.body));
  if (field !== undefined) assert.equal(r.body.field, field, JSON.stringify(r.body));
}

for (const backend of backends) {
  describe(`tenancy, plans and quotas on ${backend.name}`, () => {
    let srv: Server;
    before(async () => {
      srv = await backend.start();
    });
    after(() => srv.close());

    const admin = (method: string, path: string, body?: unknown) =>
      call(`${srv.url}${path}`, ADMIN_TOKEN, method, body);
    const as = (key: string, method: string, path: string, body?: unknown, headers = {}) =>
      call(`${srv.url}${path}`, key, method, body, headers);

    /** Provisions a tenant; returns its id, first key (every scope) and default project. */
    async function provision(body: Record<string, unknown> = {}) {
      const r = await admin("POST", "/v1/admin/tenants", { name: "t", ...body });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return {
        id: r.body.id as string,
        key: r.body.key.key as string,
        keyId: r.body.key.id as string,
        projectId: r.body.project.id as string,
      };
    }
    const add = (key: string, text: string, headers = {}) =>
      as(key, "POST", "/v1/memories", { text, user_id: "u" }, headers);
    const metric = async (key: string, name: string) => {
      const r = await as(key, "GET", "/v1/usage");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.metrics.find((m: { metric: string }) => m.metric === name);
    };

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
        const r = await admin("DELETE", `/v1/admin/tenants/${t.id}`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.tenant_id, t.id);
        assert.equal(r.body.removed.memories, 3);
        assert.equal(r.body.removed.memory_history, 3);
        assert.equal(r.body.removed.api_keys, 1);
        assert.equal(r.body.removed.projects, 1);
        assert.equal(r.body.removed.tenants, 1);
        assert.ok(r.body.removed.audit_events >= 1);
        assert.ok(r.body.removed.usage_events >= 3);
        assertProblem(await as(t.key, "GET", "/v1/memories"), 401, "unauthenticated");
        assertProblem(await admin("GET", `/v1/admin/tenants/${t.id}`), 404, "not_found");
        assertProblem(await admin("DELETE", `/v1/admin/tenants/${t.id}`), 404, "not_found");
        const kept = await as(other.key, "GET", "/v1/memories");
        assert.equal(kept.body.results.length, 1);
        if (srv.database) {
          // Past row-level security: no row of any table still names the tenant.
          const c = new pg.Client({ connectionString: srv.database.superuserUrl });
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

    describe("keys", () => {
      test("a keys:manage key creates, lists (prefix, last use, never the secret) and revokes keys", async () => {
        const t = await provision();
        const created = await as(t.key, "POST", "/v1/keys", {
          name: "reader",
          scopes: ["memories:read"],
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        assert.equal(created.body.project_id, t.projectId);
        assert.ok(created.body.key.startsWith(created.body.prefix));
        assert.equal((await as(created.body.key, "GET", "/v1/memories")).status, 200);
        const list = await as(t.key, "GET", "/v1/keys");
        assert.equal(list.body.results.length, 2);
        for (const k of list.body.results) assert.equal(k.key, undefined, "no secret in lists");
        const reader = list.body.results.find((k: { id: string }) => k.id === created.body.id);
        assert.ok(reader.last_used_at, "last use is recorded");
        assert.equal(reader.revoked_at, null);
        const revoked = await as(t.key, "DELETE", `/v1/keys/${created.body.id}`);
        assert.equal(revoked.status, 200);
        assert.ok(revoked.body.revoked_at);
        assertProblem(await as(created.body.key, "GET", "/v1/memories"), 401, "unauthenticated");
        const actions = (await as(t.key, "GET", "/v1/audit")).body.results.map(
          (e: { action: string }) => e.action,
        );
        assert.deepEqual(actions.slice(0, 2), ["key.revoke", "key.create"]);
      });

      test("security: a key cannot grant scopes it lacks; without keys:manage, key routes are 403", async () => {
        const t = await provision();
        const limited = await as(t.key, "POST", "/v1/keys", {
          scopes: ["memories:read", "keys:manage"],
        });
        assert.equal(limited.status, 201);
        assertProblem(
          await as(limited.body.key, "POST", "/v1/keys", { scopes: ["memories:write"] }),
          403,
          "forbidden",
          "scopes",
        );
        const plain = await as(t.key, "POST", "/v1/keys", { scopes: ["memories:read"] });
        for (const [method, path] of [
          ["GET", "/v1/keys"],
          ["POST", "/v1/keys"],
          ["DELETE", `/v1/keys/${t.keyId}`],
          ["GET", "/v1/projects"],
          ["GET", "/v1/audit"],
          ["GET", "/v1/usage"],
        ] as const) {
          assertProblem(
            await as(plain.body.key, method, path, method === "POST" ? {} : undefined),
            403,
            "forbidden",
          );
        }
      });

      test("security: a keys:manage key revokes only keys whose scopes it holds; the admin's keys stay", async () => {
        const t = await provision();
        const narrow = await as(t.key, "POST", "/v1/keys", {
          scopes: ["memories:read", "keys:manage"],
        });
        const reader = await as(t.key, "POST", "/v1/keys", { scopes: ["memories:read"] });
        const writer = await as(t.key, "POST", "/v1/keys", { scopes: ["memories:write"] });
        for (const target of [t.keyId, writer.body.id]) {
          const refused = await as(narrow.body.key, "DELETE", `/v1/keys/${target}`);
          assertProblem(refused, 403, "forbidden");
          assert.match(refused.body.detail, /cannot revoke a key with the "[a-z]+:[a-z]+" scope/);
        }
        // Nothing was revoked or audited: both broader keys still work.
        assert.equal((await add(t.key, "still here")).status, 201);
        assert.equal((await add(writer.body.key, "me too")).status, 201);
        const listed = (await as(t.key, "GET", "/v1/keys")).body.results;
        assert.ok(listed.every((k: { revoked_at: string | null }) => k.revoked_at === null));
        const actions = (await as(t.key, "GET", "/v1/audit")).body.results.map(
          (e: { action: string }) => e.action,
        );
        assert.ok(!actions.includes("key.revoke"), actions.join(","));
        // A key with a subset of its scopes, and itself, it may revoke.
        assert.equal(
          (await as(narrow.body.key, "DELETE", `/v1/keys/${reader.body.id}`)).status,
          200,
        );
        assertProblem(await as(reader.body.key, "GET", "/v1/memories"), 401, "unauthenticated");
        assert.equal(
          (await as(narrow.body.key, "DELETE", `/v1/keys/${narrow.body.id}`)).status,
          200,
        );
        assertProblem(await as(narrow.body.key, "GET", "/v1/keys"), 401, "unauthenticated");
        // The first key (every scope) revokes any of the tenant's keys.
        assert.equal((await as(t.key, "DELETE", `/v1/keys/${writer.body.id}`)).status, 200);
      });

      test("the plan bounds active keys: 402 quota_exceeded at the limit; revoked and expired keys free a slot", async () => {
        const t = await provision({ plan: "developer", overrides: { api_keys: 3 } });
        const soon = new Date(Date.now() + 1500).toISOString();
        const expiring = await as(t.key, "POST", "/v1/keys", { expires_at: soon });
        const second = await as(t.key, "POST", "/v1/keys", { scopes: ["memories:read"] });
        assert.deepEqual([expiring.status, second.status], [201, 201]);
        const refused = await as(t.key, "POST", "/v1/keys", {});
        assertProblem(refused, 402, "quota_exceeded");
        assert.deepEqual(
          [refused.body.metric, refused.body.limit, refused.body.used],
          ["api_keys", 3, 3],
        );
        // The admin route is bounded by the same plan limit.
        const byAdmin = await admin("POST", `/v1/admin/tenants/${t.id}/keys`, {});
        assertProblem(byAdmin, 402, "quota_exceeded");
        assert.equal(byAdmin.body.metric, "api_keys");
        assert.equal(
          (await as(t.key, "GET", "/v1/keys")).body.results.length,
          3,
          "none was created",
        );
        const usage = await metric(t.key, "api_keys");
        assert.deepEqual([usage.used, usage.limit], [3, 3]);

        assert.equal((await as(t.key, "DELETE", `/v1/keys/${second.body.id}`)).status, 200);
        assert.equal(
          (await as(t.key, "POST", "/v1/keys", {})).status,
          201,
          "a revoked key frees its slot",
        );
        assertProblem(await as(t.key, "POST", "/v1/keys", {}), 402, "quota_exceeded");
        await new Promise((r) => setTimeout(r, 1600));
        assert.equal(
          (await admin("POST", `/v1/admin/tenants/${t.id}/keys`, {})).status,
          201,
          "so does an expired one",
        );
        // The admin raises the limit with an override.
        await admin("PATCH", `/v1/admin/tenants/${t.id}`, { overrides: { api_keys: 4 } });
        assert.equal((await as(t.key, "POST", "/v1/keys", {})).status, 201);
        assert.equal((await metric(t.key, "api_keys")).used, 4);
      });

      test("concurrent key creations at the limit never pass it", async () => {
        const t = await provision({ plan: "developer", overrides: { api_keys: 4 } });
        const replies = await Promise.all(
          Array.from({ length: 12 }, (_, i) => as(t.key, "POST", "/v1/keys", { name: `k${i}` })),
        );
        const statuses = replies.map((r) => r.status);
        assert.equal(statuses.filter((s) => s === 201).length, 3, JSON.stringify(statuses));
        assert.equal(statuses.filter((s) => s === 402).length, 9);
        assert.equal((await as(t.key, "GET", "/v1/keys")).body.results.length, 4);
      });

      test("a key with an expiry creates keys that expire no later", async () => {
        const t = await provision();
        const until = new Date(Date.now() + 3_600_000).toISOString();
        const parent = await as(t.key, "POST", "/v1/keys", { expires_at: until });
        const child = await as(parent.body.key, "POST", "/v1/keys", {});
        assert.equal(child.status, 201);
        assert.equal(child.body.expires_at, until, "inherits the expiry by default");
        const later = new Date(Date.now() + 7_200_000).toISOString();
        assertProblem(
          await as(parent.body.key, "POST", "/v1/keys", { expires_at: later }),
          403,
          "forbidden",
          "expires_at",
        );
      });

      test("an expired key is refused with 401; an expiry in the past is 400", async () => {
        const t = await provision();
        assertProblem(
          await as(t.key, "POST", "/v1/keys", { expires_at: "2020-01-01T00:00:00Z" }),
          400,
          "validation_failed",
          "expires_at",
        );
        const soon = new Date(Date.now() + 1500).toISOString();
        const k = await as(t.key, "POST", "/v1/keys", { expires_at: soon });
        assert.equal(k.status, 201);
        assert.equal(k.body.expires_at, soon);
        assert.equal((await as(k.body.key, "GET", "/v1/memories")).status, 200);
        await new Promise((r) => setTimeout(r, 1600));
        const refused = await as(k.body.key, "GET", "/v1/memories");
        assertProblem(refused, 401, "unauthenticated");
        assert.match(refused.body.detail, /expired/);
      });
    });

    describe("projects", () => {
      test("memories are scoped to the key's project; the plan bounds the number of projects", async () => {
        const t = await provision({ plan: "growth" });
        const p2 = await as(t.key, "POST", "/v1/projects", { name: "second" });
        assert.equal(p2.status, 201, JSON.stringify(p2.body));
        assertProblem(await as(t.key, "POST", "/v1/projects", { name: "second" }), 409, "conflict");
        const k2 = await as(t.key, "POST", "/v1/keys", { project_id: p2.body.id });
        assert.equal(k2.body.project_id, p2.body.id);
        const added = await add(t.key, "Only in the default project");
        const id = added.body.results[0].id;
        assertProblem(await as(k2.body.key, "GET", `/v1/memories/${id}`), 404, "not_found");
        assertProblem(await as(k2.body.key, "GET", `/v1/memories/${id}/history`), 404, "not_found");
        assertProblem(
          await as(k2.body.key, "PATCH", `/v1/memories/${id}`, { text: "x" }),
          404,
          "not_found",
        );
        assertProblem(await as(k2.body.key, "DELETE", `/v1/memories/${id}`), 404, "not_found");
        assert.equal((await as(k2.body.key, "GET", "/v1/memories")).body.results.length, 0);
        const found = await as(k2.body.key, "POST", "/v1/memories/search", {
          query: "default project",
        });
        assert.equal(found.body.results.length, 0);
        // An Idempotency-Key is per project: the same key and body in another project is a new write.
        const idem = { "idempotency-key": "same-key" };
        const inA = await add(t.key, "keyed write", idem);
        const inB = await add(k2.body.key, "keyed write", idem);
        assert.equal(inB.status, 201);
        assert.notEqual(inB.body.results[0].id, inA.body.results[0].id);
        assert.equal(
          (await as(k2.body.key, "GET", `/v1/memories/${inB.body.results[0].id}`)).status,
          200,
        );
        // The same text in another project is no duplicate.
        assert.equal(
          (await add(k2.body.key, "Only in the default project")).body.results[0].event,
          "ADD",
        );
        assert.equal((await as(t.key, "GET", `/v1/memories/${id}`)).status, 200);

        const dev = await provision({ plan: "developer" });
        const refused = await as(dev.key, "POST", "/v1/projects", { name: "more" });
        assertProblem(refused, 402, "quota_exceeded");
        assert.equal(refused.body.metric, "projects");
        assert.equal(refused.body.limit, 1);
      });

      test("a key for an unknown or another tenant's project is 404", async () => {
        const a = await provision({ plan: "growth" });
        const b = await provision({ plan: "growth" });
        assertProblem(
          await as(a.key, "POST", "/v1/keys", { project_id: b.projectId }),
          404,
          "not_found",
        );
        assertProblem(
          await admin("POST", `/v1/admin/tenants/${a.id}/keys`, { project_id: b.projectId }),
          404,
          "not_found",
        );
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
        const next = await admin(
          "GET",
          `/v1/admin/tenants?limit=1&cursor=${first.body.next_cursor}`,
        );
        assert.equal(next.body.results[0].id, made[0]?.id);
        assert.deepEqual([next.body.results[0].name, next.body.results[0].suspended], ["t", false]);
        assertProblem(await admin("GET", "/v1/admin/tenants?cursor=bad"), 400, "validation_failed");
        assertProblem(await admin("GET", "/v1/admin/tenants?limit=0"), 400, "validation_failed");
        assertProblem(
          await as(made[0]?.key as string, "GET", "/v1/admin/tenants"),
          403,
          "forbidden",
        );
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
        assertProblem(await call(`${srv.url}/v1/usage`, ADMIN_TOKEN), 401, "unauthenticated");
      });
    });

    describe("quotas and metering", () => {
      test("the operations quota: the write past it is 402 quota_exceeded naming limit, usage and period end; reads keep working", async () => {
        const t = await provision({ plan: "developer", overrides: { memory_operations: 3 } });
        for (const text of ["one", "two", "three"])
          assert.equal((await add(t.key, text)).status, 201);
        const refused = await add(t.key, "four");
        assertProblem(refused, 402, "quota_exceeded");
        assert.equal(refused.body.metric, "memory_operations");
        assert.equal(refused.body.limit, 3);
        assert.equal(refused.body.used, 3);
        const now = new Date();
        assert.equal(
          refused.body.period_end,
          new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString(),
        );
        assert.equal((await as(t.key, "GET", "/v1/memories")).body.results.length, 3);
        const search = await as(t.key, "POST", "/v1/memories/search", { query: "two" });
        assert.equal(search.status, 200);
        // Deleting frees storage and is never blocked.
        const id = (await as(t.key, "GET", "/v1/memories")).body.results[0].id;
        assert.equal((await as(t.key, "DELETE", `/v1/memories/${id}`)).status, 200);
        const ops = await metric(t.key, "memory_operations");
        assert.deepEqual([ops.used, ops.limit, ops.percent], [3, 3, 100]);
        assert.equal((await metric(t.key, "active_memories")).used, 2);
      });

      test("the active-memories quota refuses a whole batch that would pass it: nothing is written", async () => {
        const t = await provision({ plan: "developer", overrides: { active_memories: 3 } });
        const batch = await as(t.key, "POST", "/v1/memories/batch", {
          memories: ["a", "b", "c", "d"].map((text) => ({ text })),
        });
        assertProblem(batch, 402, "quota_exceeded");
        assert.equal(batch.body.metric, "active_memories");
        assert.equal((await as(t.key, "GET", "/v1/memories")).body.results.length, 0);
        const usage = await metric(t.key, "memory_operations");
        assert.equal(usage.used, 0, "a refused write is not metered");
        const ok = await as(t.key, "POST", "/v1/memories/batch", {
          memories: ["a", "b", "c"].map((text) => ({ text })),
        });
        assert.equal(ok.status, 201);
        assert.equal((await metric(t.key, "active_memories")).used, 3);
      });

      test("fifty concurrent writers at the edge never push usage past the limit", async () => {
        const t = await provision({ plan: "developer", overrides: { memory_operations: 20 } });
        const replies = await Promise.all(
          Array.from({ length: 50 }, (_, i) => add(t.key, `concurrent fact ${i}`)),
        );
        const statuses = replies.map((r) => r.status);
        assert.equal(statuses.filter((s) => s === 201).length, 20, JSON.stringify(statuses));
        assert.equal(statuses.filter((s) => s === 402).length, 30);
        assert.equal((await metric(t.key, "memory_operations")).used, 20);
        const listed = await as(t.key, "GET", "/v1/memories?limit=100");
        assert.equal(listed.body.results.length, 20);
      });

      test("storage counts text, metadata and vector bytes, and goes back down on delete", async () => {
        const t = await provision();
        const r = await as(t.key, "POST", "/v1/memories", {
          text: "Twelve bytes",
          metadata: { k: 1 },
        });
        const stored = (await metric(t.key, "storage_bytes")).used;
        // text + jsonb text '{"k": 1}' + 512 dimensions × 4 bytes
        assert.equal(stored, 12 + 8 + 512 * 4);
        await as(t.key, "PATCH", `/v1/memories/${r.body.results[0].id}`, {
          text: "Now 14 bytes!!",
        });
        assert.equal((await metric(t.key, "storage_bytes")).used, 14 + 8 + 512 * 4);
        await as(t.key, "DELETE", `/v1/memories/${r.body.results[0].id}`);
        assert.equal((await metric(t.key, "storage_bytes")).used, 0);
      });

      test("uploaded documents count as storage: within the limit, refused past it with nothing stored, freed on delete", async () => {
        const t = await provision({ plan: "developer", overrides: { storage_bytes: 1000 } });
        const doc = (text: string) =>
          as(t.key, "POST", "/v1/documents", {
            filename: "notes.txt",
            media_type: "text/plain",
            text,
          });
        const first = await doc("x".repeat(600));
        assert.equal(first.status, 202, JSON.stringify(first.body));
        assert.equal((await metric(t.key, "storage_bytes")).used, 600);
        const refused = await doc("y".repeat(500));
        assertProblem(refused, 402, "quota_exceeded");
        assert.equal(refused.body.metric, "storage_bytes");
        assert.equal(refused.body.used, 600);
        assert.equal((await as(t.key, "GET", "/v1/documents")).body.results.length, 1);
        assert.equal(
          (await as(t.key, "DELETE", `/v1/documents/${first.body.document_id}`)).status,
          200,
        );
        assert.equal((await metric(t.key, "storage_bytes")).used, 0);
        assert.equal((await doc("y".repeat(500))).status, 202);
      });

      test("indexed chunk text and vectors count as storage: counted when written, a document whose chunks would pass the quota fails naming it, freed on delete", async () => {
        const t = await provision({ plan: "developer", overrides: { storage_bytes: 20_000 } });
        const upload = async (text: string) => {
          const r = await as(t.key, "POST", "/v1/documents", {
            filename: "notes.txt",
            media_type: "text/plain",
            text,
          });
          assert.equal(r.status, 202, JSON.stringify(r.body));
          for (let i = 0; i < 600; i++) {
            const job = await as(t.key, "GET", `/v1/jobs/${r.body.job_id}`);
            if (!["queued", "active"].includes(job.body.state)) return { ...r.body, job: job.body };
            await new Promise((done) => setTimeout(done, 100));
          }
          assert.fail("the job did not finish");
        };
        // One paragraph, one chunk: its text again, plus a 512-d vector of 4-byte floats.
        const small = "Green tea is nice. ".repeat(10).trim();
        const a = await upload(small);
        assert.equal(a.job.state, "completed", JSON.stringify(a.job));
        const indexed = small.length + small.length + 512 * 4;
        assert.equal((await metric(t.key, "storage_bytes")).used, indexed);
        // 6 KB of upload fits (about 8.5 KB in all), but its chunks and vectors would not.
        const b = await upload("Oolong and sencha differ in oxidation. ".repeat(150).trim());
        assert.equal(b.job.state, "failed", JSON.stringify(b.job));
        assert.match(b.job.error, /storage quota.*storage_bytes quota \(20000\)/);
        const bytes = Buffer.byteLength(
          "Oolong and sencha differ in oxidation. ".repeat(150).trim(),
        );
        assert.equal((await metric(t.key, "storage_bytes")).used, indexed + bytes);
        const docB = await as(t.key, "GET", `/v1/documents/${b.document_id}`);
        assert.equal(docB.body.chunk_count, 0);
        await as(t.key, "DELETE", `/v1/documents/${a.document_id}`);
        assert.equal((await metric(t.key, "storage_bytes")).used, bytes);
        await as(t.key, "DELETE", `/v1/documents/${b.document_id}`);
        assert.equal((await metric(t.key, "storage_bytes")).used, 0);
      });

      test("metering is idempotent: a retried request with its Idempotency-Key is counted once; NOOPs are free", async () => {
        const t = await provision({ plan: "starter" });
        const headers = { "idempotency-key": "retry-me" };
        assert.equal((await add(t.key, "counted once", headers)).status, 201);
        assert.equal((await add(t.key, "counted once", headers)).status, 201);
        assert.equal((await add(t.key, "counted once")).body.results[0].event, "NOOP");
        assert.equal((await metric(t.key, "memory_operations")).used, 1);
        const history = await as(t.key, "GET", "/v1/usage/history");
        assert.equal(history.body.results.length, 1);
        assert.equal(history.body.results[0].memory_operations, 1);
        assert.equal(history.body.next_cursor, null);
        for (const bad of ["bad", Buffer.from("2024-13-01").toString("base64url")]) {
          assertProblem(
            await as(t.key, "GET", `/v1/usage/history?cursor=${bad}`),
            400,
            "validation_failed",
            "cursor",
          );
        }
      });

      test("Enterprise is unlimited: every limit is null", async () => {
        const t = await provision({ plan: "enterprise" });
        const usage = await as(t.key, "GET", "/v1/usage");
        for (const m of usage.body.metrics) assert.equal(m.limit, null, m.metric);
        assert.equal((await add(t.key, "x")).status, 201);
      });

      test("invoice preview: the plan price plus overage lines per operation and per GB-month", async () => {
        const t = await provision({ plan: TINY_TEST_PLAN });
        for (const text of ["a", "b", "c", "d", "e"])
          assert.equal((await add(t.key, text)).status, 201);
        const r = await admin("GET", `/v1/admin/tenants/${t.id}/invoice-preview`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.plan, TINY_TEST_PLAN);
        const [plan, ops, storage] = r.body.lines;
        assert.deepEqual(plan, {
          description: "Tiny (tests) plan",
          quantity: 1,
          unit_price_usd: 10,
          amount_usd: 10,
        });
        assert.equal(ops.quantity, 2, "5 operations, 3 included");
        assert.equal(ops.unit_price_usd, 0.002);
        assert.equal(ops.amount_usd, 0); // 2 × $0.002, rounded to the cent
        // 5 × (1 byte + '{}' + 2048) = 10,255 bytes; 3,000 included.
        assert.equal(storage.quantity, Math.round(((10_255 - 3000) / 1e9) * 1000) / 1000);
        assert.equal(storage.unit_price_usd, 0.15);
        assert.equal(r.body.total_usd, 10);
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
        if (srv.database) {
          const c = new pg.Client({ connectionString: srv.database.appUrl });
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

      test("every scope a key can hold is one of the documented resource scopes", async () => {
        const t = await provision();
        const keys = (await as(t.key, "GET", "/v1/keys")).body.results;
        assert.deepEqual([...keys[0].scopes].sort(), [...Scopes].sort());
        assertProblem(
          await as(t.key, "POST", "/v1/keys", { scopes: ["memories:admin"] }),
          400,
          "validation_failed",
        );
      });
    });
  });
}
