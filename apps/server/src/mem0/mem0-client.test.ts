import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeOnBackends } from "../testing/backend-suite.ts";
import { assertProblem, type Reply, replyOf } from "../testing/http.ts";

// mem0's MemoryClient reports every call to PostHog unless MEM0_TELEMETRY is "false", which it
// reads once, when the module loads: so set before the (dynamic) import. Its own documented switch.
process.env.MEM0_TELEMETRY = "false";
const { MemoryClient, MemoryError } = await import("mem0ai");

type Client = InstanceType<typeof MemoryClient>;

/** The problem body inside a mem0 client error (it keeps the response text as its message). */
async function mem0Problem(call: Promise<unknown>, status: number, code: string, field?: string) {
  const err = await call.then(
    (ok) => assert.fail(`expected ${status} ${code}, got ${JSON.stringify(ok)}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof MemoryError, `expected a mem0 MemoryError, got ${String(err)}`);
  assert.equal(err.errorCode, `HTTP_${status}`, err.message);
  const problem = JSON.parse(err.message);
  assert.equal(problem.code, code, err.message);
  if (field !== undefined) assert.equal(problem.field, field, err.message);
  return problem;
}

/** Polls a mem0 event until it is done (a generous bound, not a timing assertion). */
async function settled(raw: (method: string, path: string) => Promise<Reply>, id: string) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await raw("GET", `/v1/event/${id}/`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    if (r.body.status === "SUCCEEDED" || r.body.status === "FAILED") return r.body;
    assert.ok(["PENDING", "RUNNING"].includes(r.body.status), JSON.stringify(r.body));
    assert.ok(Date.now() < deadline, `event ${id} still ${r.body.status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// The real mem0 client (mem0ai, pinned) against a running Engram, host = server URL + /mem0, its
// key an Engram key: every call it makes here must succeed and return what it expects.
describeOnBackends(
  "mem0 compatibility (the mem0ai MemoryClient)",
  (suite) => {
    const { provision } = suite;

    /** A tenant with a mem0 client, and raw calls with mem0's `Token` header. */
    async function mem0Tenant() {
      const t = await provision();
      const host = `${suite.srv.url}/mem0`;
      const client: Client = new MemoryClient({ apiKey: t.key, host });
      const raw = async (method: string, path: string, body?: unknown) =>
        replyOf(
          await fetch(`${host}${path}`, {
            method,
            headers: {
              authorization: `Token ${t.key}`,
              ...(body === undefined ? {} : { "content-type": "application/json" }),
            },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          }),
        );
      /** A synchronous add of plain texts (no inference), returning the new ids in order. */
      const store = async (texts: string[], options: Record<string, unknown>) => {
        const added = await client.add(
          texts.map((content) => ({ role: "user" as const, content })),
          { ...options, infer: false, async_mode: false },
        );
        const results = (added as unknown as { results: { id: string; event: string }[] }).results;
        assert.deepEqual(
          results.map((r) => r.event),
          texts.map(() => "ADD"),
        );
        return results.map((r) => r.id);
      };
      return { ...t, client, raw, store };
    }

    describe("identity", () => {
      test("ping succeeds with the key as Token; it answers the tenant and project", async () => {
        const t = await mem0Tenant();
        await t.client.ping();
        const r = await t.raw("GET", "/v1/ping/");
        assert.equal(r.status, 200);
        assert.deepEqual(r.body, {
          status: "ok",
          message: "The API key is valid",
          org_id: t.id,
          project_id: t.projectId,
        });
      });

      test("a wrong key is 401 to the client; Token is refused on Engram's own routes", async () => {
        const t = await mem0Tenant();
        const bad = new MemoryClient({ apiKey: "egm_wrong", host: `${suite.srv.url}/mem0` });
        await mem0Problem(bad.get("mem_01J00000000000000000000000"), 401, "unauthenticated");
        const own = await fetch(`${suite.srv.url}/v1/memories?user_id=u`, {
          headers: { authorization: `Token ${t.key}` },
        });
        assertProblem(await replyOf(own), 401, "unauthenticated");
        // Engram's own routes, without trailing slashes, are unchanged beside the mem0 ones.
        const bearer = await suite.as(t.key, "GET", "/v1/memories?user_id=u");
        assert.equal(bearer.status, 200, bearer.text);
      });
    });

    describe("scopes and rate limits, as with Bearer", () => {
      test("a read-only key searches but cannot add or delete (403 forbidden)", async () => {
        const t = await mem0Tenant();
        const [id] = await t.store(["Kim reads"], { userId: "kim" });
        assert.ok(id);
        const created = await suite.admin("POST", `/v1/admin/tenants/${t.id}/keys`, {
          scopes: ["memories:read"],
        });
        assert.equal(created.status, 201, created.text);
        const reader = new MemoryClient({
          apiKey: created.body.key,
          host: `${suite.srv.url}/mem0`,
        });
        assert.equal((await reader.get(id)).id, id);
        const messages = [{ role: "user" as const, content: "x" }];
        await mem0Problem(reader.add(messages, { userId: "kim" }), 403, "forbidden");
        await mem0Problem(reader.delete(id), 403, "forbidden");
        await mem0Problem(reader.batchDelete([id]), 403, "forbidden");
      });

      test("the key's plan rate limit counts mem0 calls too: 429 rate_limited", async () => {
        const t = await provision({
          plan: "starter",
          overrides: { requests_per_window: 3, window_seconds: 60 },
        });
        const ping = () =>
          fetch(`${suite.srv.url}/mem0/v1/ping/`, {
            headers: { authorization: `Token ${t.key}` },
          }).then(replyOf);
        for (let i = 0; i < 3; i++) {
          const r = await ping();
          assert.equal(r.status, 200, r.text);
          assert.ok(r.headers.get("ratelimit"), "RateLimit fields on the mem0 surface");
        }
        const limited = await ping();
        assertProblem(limited, 429, "rate_limited");
        assert.ok(limited.headers.get("retry-after"));
        const client = new MemoryClient({ apiKey: t.key, host: `${suite.srv.url}/mem0` });
        await mem0Problem(client.get("mem_01J00000000000000000000000"), 429, "rate_limited");
      });
    });

    describe("add", () => {
      test("with mem0's defaults: inferred (infer: true) and queued (async_mode: true)", async () => {
        const t = await mem0Tenant();
        const added = (await t.client.add(
          [{ role: "user", content: "Hi! I moved to Lisbon last month." }],
          { userId: "alice", metadata: { topic: "travel" } },
        )) as unknown as { results: { status: string; eventId: string; message: string }[] };
        assert.equal(added.results.length, 1, JSON.stringify(added));
        const [queued] = added.results;
        assert.ok(queued && ["PENDING", "RUNNING", "SUCCEEDED"].includes(queued.status));
        assert.match(queued.eventId, /^evt_/);
        const event = await settled(t.raw, queued.eventId);
        assert.equal(event.status, "SUCCEEDED", JSON.stringify(event));
        // Inferred, not stored verbatim: the greeting is gone, the fact is kept.
        assert.ok(event.results.length >= 1, JSON.stringify(event));
        for (const r of event.results) {
          assert.equal(r.event, "ADD");
          assert.match(r.memory, /Lisbon/);
          assert.doesNotMatch(r.memory, /Hi!/);
        }
        const stored = await t.client.get(event.results[0].id);
        assert.equal(stored.userId, "alice");
        assert.deepEqual(stored.metadata, { topic: "travel" });
      });

      test("async_mode: false answers the results; run_id is the session", async () => {
        const t = await mem0Tenant();
        const [id] = await t.store(["Bob prefers window seats"], {
          userId: "bob",
          runId: "trip-1",
        });
        assert.ok(id);
        const memory = await t.client.get(id);
        assert.equal(memory.id, id);
        assert.equal(memory.memory, "Bob prefers window seats");
        assert.equal(memory.userId, "bob");
        assert.equal(memory.runId, "trip-1");
        assert.equal(memory.appId, null);
        assert.ok(Array.isArray(memory.categories));
        assert.ok(memory.createdAt && memory.updatedAt);
        // Engram sees the same memory, with run_id as its session.
        const own = await suite.as(t.key, "GET", `/v1/memories/${id}`);
        assert.equal(own.body.session_id, "trip-1");
      });

      test("an add without user, agent or run, or with app_id, is a 400 naming the field", async () => {
        const t = await mem0Tenant();
        const messages = [{ role: "user" as const, content: "x" }];
        await mem0Problem(t.client.add(messages, {}), 400, "validation_failed", "user_id");
        await mem0Problem(
          t.client.add(messages, { userId: "u", appId: "a" }),
          400,
          "validation_failed",
          "app_id",
        );
        await mem0Problem(
          t.client.add(messages, { userId: "u", customInstructions: "be brief" }),
          400,
          "validation_failed",
          "custom_instructions",
        );
      });
    });

    describe("search with v2 filters", () => {
      test("AND of a user and metadata, OR of metadata, run_id, categories", async () => {
        const t = await mem0Tenant();
        const [lisbon] = await t.store(["Alice lives in Lisbon"], {
          userId: "alice",
          runId: "s1",
          metadata: { topic: "home" },
        });
        const [porto] = await t.store(["Alice's sister lives in Porto"], {
          userId: "alice",
          runId: "s2",
          metadata: { topic: "family" },
        });
        await t.store(["Carol lives in Lisbon"], { userId: "carol", metadata: { topic: "home" } });

        const both = await t.client.search("where does alice live", {
          filters: { user_id: "alice" },
        });
        assert.deepEqual(both.results.map((r) => r.id).sort(), [lisbon, porto].sort());
        for (const hit of both.results) {
          assert.equal(typeof hit.score, "number");
          assert.equal(hit.userId, "alice");
        }

        const home = await t.client.search("where does alice live", {
          filters: { AND: [{ user_id: "alice" }, { metadata: { topic: "home" } }] },
        });
        assert.deepEqual(
          home.results.map((r) => r.id),
          [lisbon],
        );

        const either = await t.client.search("lives", {
          filters: {
            AND: [
              { user_id: "alice" },
              {
                OR: [{ metadata: { topic: "home" } }, { metadata: { topic: { in: ["family"] } } }],
              },
            ],
          },
          topK: 5,
        });
        assert.deepEqual(either.results.map((r) => r.id).sort(), [lisbon, porto].sort());

        const run = await t.client.search("lives", { filters: { run_id: "s2" } });
        assert.deepEqual(
          run.results.map((r) => r.id),
          [porto],
        );
        assert.equal(run.results[0]?.runId, "s2");

        const notHome = await t.client.search("lives", {
          filters: { AND: [{ user_id: "alice" }, { NOT: [{ metadata: { topic: "home" } }] }] },
        });
        assert.deepEqual(
          notHome.results.map((r) => r.id),
          [porto],
        );

        // Categories: these plain adds have none, so "in" matches nothing and NOT … in all.
        const health = { categories: { in: ["health"] } };
        const inHealth = await t.client.search("lives", {
          filters: { AND: [{ user_id: "alice" }, health] },
        });
        assert.deepEqual(inHealth.results, []);
        const notHealth = await t.client.search("lives", {
          filters: { AND: [{ user_id: "alice" }, { NOT: [health] }] },
        });
        assert.equal(notHealth.results.length, 2);
      });

      test("what does not map is a 400 invalid_filter naming the mem0 path", async () => {
        const t = await mem0Tenant();
        const cases: [Record<string, unknown>, string][] = [
          [{ OR: [{ user_id: "a" }, { user_id: "b" }] }, "filters.OR[0].user_id"],
          [
            { AND: [{ user_id: "a" }, { created_at: { gte: "2026-01-01" } }] },
            "filters.AND[1].created_at",
          ],
          [{ user_id: { in: ["a", "b"] } }, "filters.user_id"],
          [{ user_id: "*" }, "filters.user_id"],
          [{ app_id: "a" }, "filters.app_id"],
          [{ metadata: { topic: { regex: "x" } } }, "filters.metadata.topic.regex"],
          [{ colour: "red" }, "filters.colour"],
        ];
        for (const [filters, field] of cases) {
          await mem0Problem(t.client.search("q", { filters }), 400, "invalid_filter", field);
        }
        const r = await t.raw("POST", "/v3/memories/search/", {
          query: "q",
          filters: { OR: [{ user_id: "a" }] },
        });
        assertProblem(r, 400, "invalid_filter", "filters.OR[0].user_id");
      });
    });

    describe("get all, update, history, delete", () => {
      test("getAll pages a user's memories with mem0's page numbers and count", async () => {
        const t = await mem0Tenant();
        const ids = await t.store(["one", "two", "three"], { userId: "dora" });
        await t.store(["other"], { userId: "erin" });
        const first = await t.client.getAll({ filters: { user_id: "dora" }, page: 1, pageSize: 2 });
        assert.equal(first.count, 3);
        assert.equal(first.results.length, 2);
        assert.ok(first.next);
        assert.equal(first.previous, null);
        const second = await t.client.getAll({
          filters: { user_id: "dora" },
          page: 2,
          pageSize: 2,
        });
        assert.equal(second.results.length, 1);
        assert.equal(second.next, null);
        assert.deepEqual(
          [...first.results, ...second.results].map((m) => m.id).sort(),
          [...ids].sort(),
        );
        const all = await t.client.getAll({ filters: { AND: [{ user_id: "dora" }] } });
        assert.equal(all.count, 3);
        await mem0Problem(
          t.client.getAll({ filters: { AND: [{ user_id: "dora" }, { metadata: { a: 1 } }] } }),
          400,
          "invalid_filter",
          "filters",
        );
      });

      test("update, then history shows ADD and UPDATE; delete makes it 404", async () => {
        const t = await mem0Tenant();
        const [id] = await t.store(["Fay likes tea"], { userId: "fay" });
        assert.ok(id);
        const updated = (await t.client.update(id, {
          text: "Fay likes green tea",
          metadata: { source: "edit" },
        })) as unknown as { id: string; memory: string; metadata: unknown };
        assert.equal(updated.id, id);
        assert.equal(updated.memory, "Fay likes green tea");
        assert.deepEqual(updated.metadata, { source: "edit" });
        assert.equal((await t.client.get(id)).memory, "Fay likes green tea");

        const history = await t.client.history(id);
        assert.deepEqual(
          history.map((h) => h.event),
          ["ADD", "UPDATE"],
        );
        assert.equal(history[1]?.memoryId, id);
        assert.equal(history[1]?.oldMemory, "Fay likes tea");
        assert.equal(history[1]?.newMemory, "Fay likes green tea");
        assert.equal(history[1]?.userId, "fay");

        const deleted = await t.client.delete(id);
        assert.deepEqual(deleted, { message: "Memory deleted successfully!" });
        await mem0Problem(t.client.get(id), 404, "not_found");
        // History outlives the memory, as mem0's does.
        assert.equal((await t.client.history(id)).length, 3);
      });

      test("deleteAll deletes one scope's memories only", async () => {
        const t = await mem0Tenant();
        await t.store(["a", "b"], { userId: "gus" });
        const [kept] = await t.store(["c"], { userId: "hal" });
        const r = await t.client.deleteAll({ userId: "gus" });
        assert.equal(r.message, "Memories deleted successfully!");
        assert.equal((await t.client.getAll({ filters: { user_id: "gus" } })).count, 0);
        assert.ok(kept);
        assert.equal((await t.client.get(kept)).id, kept);
        await mem0Problem(t.client.deleteAll({}), 400, "validation_failed", "user_id");
      });

      test("batchUpdate and batchDelete; an unknown id in a batch changes nothing", async () => {
        const t = await mem0Tenant();
        const [a, b] = await t.store(["first", "second"], { userId: "ivy" });
        assert.ok(a && b);
        const updated = await t.client.batchUpdate([
          { memoryId: a, text: "first, edited" },
          { memoryId: b, text: "second, edited" },
        ]);
        assert.deepEqual(updated, { message: "Successfully updated 2 memories" });
        assert.equal((await t.client.get(a)).memory, "first, edited");
        assert.equal((await t.client.get(b)).memory, "second, edited");

        const missing = "mem_01J00000000000000000000000";
        await mem0Problem(t.client.batchDelete([a, missing]), 404, "not_found");
        assert.equal((await t.client.get(a)).id, a, "nothing was deleted");
        const deleted = await t.client.batchDelete([a, b]);
        assert.deepEqual(deleted, { message: "Successfully deleted 2 memories" });
        await mem0Problem(t.client.get(a), 404, "not_found");
        await mem0Problem(t.client.get(b), 404, "not_found");
      });
    });

    describe("users, agents and runs", () => {
      test("users() lists them with their memory counts; deleteUsers removes each", async () => {
        const t = await mem0Tenant();
        await t.store(["j1", "j2"], { userId: "jo" });
        await t.store(["k1"], { agentId: "planner" });
        await t.store(["l1"], { userId: "lu", runId: "run-9" });
        await t.store(["l2"], { userId: "lu" });
        const users = await t.client.users();
        const listed = users.results.map((e) => [e.type, e.name, e.totalMemories]);
        assert.deepEqual(
          listed.sort(),
          [
            ["agent", "planner", 1],
            ["run", "run-9", 1],
            ["user", "jo", 2],
            ["user", "lu", 2],
          ].sort(),
        );
        assert.equal(users.count, 4);
        const paged = await t.client.users({ page: 2, pageSize: 3 });
        assert.equal(paged.results.length, 1);

        assert.deepEqual(await t.client.deleteUsers({ userId: "jo" }), {
          message: "Entity deleted successfully.",
        });
        assert.deepEqual(await t.client.deleteUsers({ agentId: "planner" }), {
          message: "Entity deleted successfully.",
        });
        await t.client.deleteUsers({ runId: "run-9" });
        const left = await t.client.users();
        assert.deepEqual(
          left.results.map((e) => [e.type, e.name, e.totalMemories]),
          [["user", "lu", 1]],
        );
        assert.equal((await t.client.getAll({ filters: { user_id: "jo" } })).count, 0);
        // An unknown one is a 404, which the client reports as a failure.
        await assert.rejects(t.client.deleteUsers({ userId: "nobody" }), /not found/i);
      });
    });

    describe("tenant isolation", () => {
      test("another tenant's memory is 404 through every mem0 call", async () => {
        const owner = await mem0Tenant();
        const other = await mem0Tenant();
        const [id] = await owner.store(["Secret of the owner"], { userId: "zed" });
        assert.ok(id);
        const c = other.client;
        await mem0Problem(c.get(id), 404, "not_found");
        await mem0Problem(c.update(id, { text: "stolen" }), 404, "not_found");
        await mem0Problem(c.history(id), 404, "not_found");
        await mem0Problem(c.delete(id), 404, "not_found");
        await mem0Problem(c.batchUpdate([{ memoryId: id, text: "x" }]), 404, "not_found");
        await mem0Problem(c.batchDelete([id]), 404, "not_found");
        assert.deepEqual((await c.search("secret", { filters: { user_id: "zed" } })).results, []);
        assert.equal((await c.getAll({ filters: { user_id: "zed" } })).count, 0);
        assert.deepEqual((await c.users()).results, []);
        await assert.rejects(c.deleteUsers({ userId: "zed" }), /not found/i);
        await c.deleteAll({ userId: "zed" });
        // Untouched for its owner.
        assert.equal((await owner.client.get(id)).memory, "Secret of the owner");
      });
    });
  },
  // Asynchronous adds (mem0's default) run on the queue in this process, on both backends.
  { ENGRAM_INGEST_IN_PROCESS: "on" },
);
