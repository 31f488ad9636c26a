import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Scopes } from "@engram/contract";
import { EngramClient, EngramError } from "@engram/sdk";
import { describeOnBackends, uniqueName } from "../testing/backend-suite.ts";
import { assertProblem } from "../testing/http.ts";
import { ADMIN_TOKEN } from "../testing/test-server.ts";

const KEY_ID = /^key_[0-9A-HJKMNP-TV-Z]{26}$/;
const UNKNOWN_TENANT = "ten_01ARZ3NDEKTSV4RRFFQ69G5FAV";

describeOnBackends("API keys", (suite) => {
  const { admin, as, call, provision, add, metric, withStoppedServer } = suite;
  const createTenant = async () => (await provision({ name: uniqueName("tenant") })).id;

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
      const a = await suite.srv.admin.createKey(tenantId, {
        name: "reader",
        scopes: ["memories:read"],
      });
      assert.equal(a.name, "reader");
      assert.deepEqual(a.scopes, ["memories:read"]);
      const b = await suite.srv.admin.createKey(tenantId, { scopes: ["memories:write"] });
      assert.deepEqual(b.scopes, ["memories:write"]);
      assert.notEqual(a.key, b.key);
      assert.notEqual(a.id, b.id);
    });

    test("happy: the key works as soon as it is created, within its scopes", async () => {
      const tenantId = await createTenant();
      const readOnly = await suite.srv.admin.createKey(tenantId, { scopes: ["memories:read"] });
      const reader = new EngramClient({ baseUrl: suite.srv.url, token: readOnly.key });
      assert.deepEqual((await reader.listMemories()).results, []);
      await assert.rejects(
        reader.addMemory({ text: "I like tea" }),
        (err: unknown) =>
          err instanceof EngramError && err.status === 403 && err.code === "forbidden",
      );

      const full = await suite.srv.admin.createKey(tenantId);
      const writer = new EngramClient({ baseUrl: suite.srv.url, token: full.key });
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
      assert.match(String(refused.body.detail), /allows 2 active API key\(s\); this tenant has 2/);
      await withStoppedServer(async (db) => {
        const rows = await db.asOwner((tx) =>
          tx.query<{ n: number }>("SELECT count(*)::int AS n FROM api_keys WHERE tenant_id = $1", [
            tenantId,
          ]),
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

  describe("/v1/keys", () => {
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
      assert.equal((await as(narrow.body.key, "DELETE", `/v1/keys/${reader.body.id}`)).status, 200);
      assertProblem(await as(reader.body.key, "GET", "/v1/memories"), 401, "unauthenticated");
      assert.equal((await as(narrow.body.key, "DELETE", `/v1/keys/${narrow.body.id}`)).status, 200);
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
      assert.equal((await as(t.key, "GET", "/v1/keys")).body.results.length, 3, "none was created");
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

  describe("scopes", () => {
    test("every scope the contract lists can be granted", async () => {
      const tenantId = await createTenant();
      for (const scope of Scopes) {
        const k = await suite.srv.admin.createKey(tenantId, { scopes: [scope] });
        assert.deepEqual(k.scopes, [scope]);
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
