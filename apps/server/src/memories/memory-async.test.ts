import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeOnBackends } from "../testing/backend-suite.ts";
import { assertProblem } from "../testing/http.ts";

const EVT_ID = /^evt_[0-9A-HJKMNP-TV-Z]{26}$/;
const isIso = (s: unknown) => typeof s === "string" && new Date(s).toISOString() === s;

// Asynchronous adds (ADR 0027): `async: true` answers 202 with an event id; the durable queue
// runs the add (here in the API process, ENGRAM_INGEST_IN_PROCESS=on, on both backends) and
// GET /v1/events/{id} gives its status and results.
describeOnBackends(
  "asynchronous adds",
  (suite) => {
    const { as, provision, metric } = suite;

    /** Polls the event until it succeeded or failed (a generous bound, not a timing assertion). */
    async function settled(key: string, id: string) {
      const deadline = Date.now() + 120_000;
      for (;;) {
        const r = await as(key, "GET", `/v1/events/${id}`);
        assert.equal(r.status, 200, r.text);
        if (r.body.status === "succeeded" || r.body.status === "failed") return r.body;
        assert.ok(["queued", "running"].includes(r.body.status), r.text);
        assert.ok(Date.now() < deadline, `event ${id} still ${r.body.status}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }

    /** POSTs an asynchronous add and checks the 202; returns the event id. */
    async function accepted(
      key: string,
      path: string,
      body: unknown,
      headers?: Record<string, string>,
    ) {
      const r = await as(key, "POST", path, body, headers);
      assert.equal(r.status, 202, r.text);
      assert.match(r.body.event_id, EVT_ID);
      assert.ok(["queued", "running", "succeeded"].includes(r.body.status), r.text);
      assert.deepEqual(Object.keys(r.body).sort(), ["event_id", "status"]);
      return r.body.event_id as string;
    }

    const shape = (results: { event: string; role?: string; memory: string }[]) =>
      results.map((r) => [r.event, r.role ?? null, r.memory]);

    describe("POST /v1/memories with async: true", () => {
      test("202, then the event succeeds with the results a synchronous add gives", async () => {
        const t = await provision();
        const body = {
          messages: [
            { role: "user", content: "I moved to Lisbon last month" },
            { role: "assistant", content: "Noted: you live in Lisbon now" },
          ],
          metadata: { source: "chat" },
        };
        const id = await accepted(t.key, "/v1/memories", { ...body, user_id: "u1", async: true });
        const event = await settled(t.key, id);
        assert.equal(event.status, "succeeded", JSON.stringify(event));
        assert.equal(event.id, id);
        assert.equal(event.operation, "memory.add");
        assert.equal(event.error, null);
        assert.ok(isIso(event.created_at) && isIso(event.updated_at));
        const sync = await as(t.key, "POST", "/v1/memories", { ...body, user_id: "u2" });
        assert.equal(sync.status, 201, sync.text);
        assert.deepEqual(shape(event.results), shape(sync.body.results));
        assert.deepEqual(shape(event.results), [
          ["ADD", "user", "I moved to Lisbon last month"],
          ["ADD", "assistant", "Noted: you live in Lisbon now"],
        ]);
        // The memories exist, in the user's scope, with the request's metadata.
        for (const r of event.results) {
          const m = await as(t.key, "GET", `/v1/memories/${r.id}`);
          assert.equal(m.status, 200);
          assert.equal(m.body.user_id, "u1");
          assert.deepEqual(m.body.metadata, { source: "chat" });
        }
        // The same body again, synchronously, finds them: exact duplicates are NOOPs.
        const again = await as(t.key, "POST", "/v1/memories", { ...body, user_id: "u1" });
        assert.deepEqual(
          again.body.results.map((r: { id: string; event: string }) => [r.id, r.event]),
          event.results.map((r: { id: string }) => [r.id, "NOOP"]),
        );
        // Metered like a synchronous add: two operations for the async add, two for the sync one.
        assert.equal((await metric(t.key, "memory_operations")).used, 4);
      });

      test("a batch runs as one event, results in order; an item's own async is ignored", async () => {
        const t = await provision();
        const memories = [
          { text: "Plays the cello", user_id: "u1" },
          { text: "Allergic to hazelnuts", user_id: "u1", async: true },
          { text: "Works night shifts", agent_id: "a1", async: false },
        ];
        const id = await accepted(t.key, "/v1/memories/batch", { memories, async: true });
        const event = await settled(t.key, id);
        assert.equal(event.status, "succeeded", JSON.stringify(event));
        assert.equal(event.operation, "memory.batch_add");
        assert.deepEqual(shape(event.results), [
          ["ADD", null, "Plays the cello"],
          ["ADD", null, "Allergic to hazelnuts"],
          ["ADD", null, "Works night shifts"],
        ]);
        const listed = await as(t.key, "GET", "/v1/memories?limit=10");
        assert.equal(listed.body.results.length, 3);
        // Without async (or async: false) the batch route stays synchronous.
        const sync = await as(t.key, "POST", "/v1/memories/batch", {
          memories: [{ text: "Speaks Dutch" }],
          async: false,
        });
        assert.equal(sync.status, 201, sync.text);
      });

      test("infer: true runs the inference the synchronous add runs (local engine)", async () => {
        const t = await provision();
        const conversation = (user: string) => ({
          messages: [
            { role: "user", name: "Bob", content: "Hi there!", timestamp: "2026-02-01T10:00:00Z" },
            {
              role: "user",
              name: "Bob",
              content: "I moved to Lisbon last month.",
              timestamp: "2026-02-01T10:00:00Z",
            },
          ],
          user_id: user,
          infer: true,
        });
        const id = await accepted(t.key, "/v1/memories", { ...conversation("u1"), async: true });
        const event = await settled(t.key, id);
        assert.equal(event.status, "succeeded", JSON.stringify(event));
        assert.deepEqual(event.inference, { engine: "local" });
        const sync = await as(t.key, "POST", "/v1/memories", conversation("u2"));
        assert.equal(sync.status, 201, sync.text);
        assert.ok(event.results.length > 0);
        assert.deepEqual(
          event.results.map((r: { event: string; memory: string }) => [r.event, r.memory]),
          sync.body.results.map((r: { event: string; memory: string }) => [r.event, r.memory]),
        );
        // A batch mixing inferred and verbatim bodies is refused at once, naming the first that differs.
        const mixed = await as(t.key, "POST", "/v1/memories/batch", {
          memories: [{ text: "I like tea.", infer: true }, { text: "Likes tea" }],
          async: true,
        });
        assertProblem(mixed, 400, "validation_failed", "memories[1].infer");
      });

      test("bad input is refused at once, as the synchronous add would; nothing is queued", async () => {
        const t = await provision();
        const none = await as(t.key, "POST", "/v1/memories", { user_id: "u1", async: true });
        assertProblem(none, 400, "validation_failed", "text");
        const both = await as(t.key, "POST", "/v1/memories", {
          text: "x",
          messages: [{ role: "user", content: "y" }],
          async: true,
        });
        assertProblem(both, 400, "validation_failed", "text");
        const unknown = await as(t.key, "POST", "/v1/memories", {
          text: "x",
          async: true,
          colour: "red",
        });
        assertProblem(unknown, 400, "validation_failed");
        const badItem = await as(t.key, "POST", "/v1/memories/batch", {
          memories: [{ text: "fine" }, { text: "too old", timestamp: "0050-01-01T00:00:00Z" }],
          async: true,
        });
        assertProblem(badItem, 400, "validation_failed", "memories[1].timestamp");
        const readOnly = await as(t.key, "POST", "/v1/keys", { scopes: ["memories:read"] });
        assert.equal(readOnly.status, 201, readOnly.text);
        const forbidden = await as(readOnly.body.key, "POST", "/v1/memories", {
          text: "x",
          async: true,
        });
        assertProblem(forbidden, 403, "forbidden");
        assert.equal((await as(t.key, "GET", "/v1/memories")).body.results.length, 0);
        assert.equal((await metric(t.key, "memory_operations")).used, 0);
      });
    });

    describe("idempotency", () => {
      test("the same key and body answers the same event; another body is 422; the add runs once", async () => {
        const t = await provision();
        const headers = { "idempotency-key": "async-import-1" };
        const body = { text: "Has a dog called Pixel", user_id: "u1", async: true };
        const id = await accepted(t.key, "/v1/memories", body, headers);
        const replay = await accepted(t.key, "/v1/memories", body, headers);
        assert.equal(replay, id);
        const event = await settled(t.key, id);
        assert.equal(event.status, "succeeded", JSON.stringify(event));
        // After it ran, the replay still answers 202 with that event, now with its status.
        const late = await as(t.key, "POST", "/v1/memories", body, headers);
        assert.equal(late.status, 202, late.text);
        assert.deepEqual(late.body, { event_id: id, status: "succeeded" });
        const other = await as(t.key, "POST", "/v1/memories", { ...body, text: "Cat" }, headers);
        assertProblem(other, 422, "idempotency_key_reused", "Idempotency-Key");
        // The same key on the synchronous add is another request too.
        const { async: _, ...syncBody } = body;
        const sync = await as(t.key, "POST", "/v1/memories", syncBody, headers);
        assertProblem(sync, 422, "idempotency_key_reused", "Idempotency-Key");
        const batch = await as(
          t.key,
          "POST",
          "/v1/memories/batch",
          { memories: [syncBody], async: true },
          headers,
        );
        assertProblem(batch, 422, "idempotency_key_reused", "Idempotency-Key");
        const listed = await as(t.key, "GET", "/v1/memories");
        assert.equal(listed.body.results.length, 1);
        assert.equal((await metric(t.key, "memory_operations")).used, 1);
      });

      test("concurrent requests with one key make one event", async () => {
        const t = await provision();
        const headers = { "idempotency-key": "async-race" };
        const body = { text: "Runs marathons", async: true };
        const replies = await Promise.all(
          Array.from({ length: 5 }, () => as(t.key, "POST", "/v1/memories", body, headers)),
        );
        for (const r of replies) assert.equal(r.status, 202, r.text);
        assert.equal(new Set(replies.map((r) => r.body.event_id)).size, 1);
      });
    });

    describe("quotas", () => {
      test("a quota already used up is 402 at once; nothing is queued", async () => {
        const t = await provision({ plan: "developer", overrides: { memory_operations: 1 } });
        const id = await accepted(t.key, "/v1/memories", { text: "first", async: true });
        assert.equal((await settled(t.key, id)).status, "succeeded");
        const refused = await as(t.key, "POST", "/v1/memories", { text: "second", async: true });
        assertProblem(refused, 402, "quota_exceeded");
        assert.equal(refused.body.metric, "memory_operations");
        const batch = await as(t.key, "POST", "/v1/memories/batch", {
          memories: [{ text: "third" }],
          async: true,
        });
        assertProblem(batch, 402, "quota_exceeded");
      });

      test("an add the quota refuses when it runs fails the event with that problem", async () => {
        const t = await provision({ plan: "developer", overrides: { active_memories: 2 } });
        const id = await accepted(t.key, "/v1/memories/batch", {
          memories: ["a", "b", "c"].map((text) => ({ text })),
          async: true,
        });
        const event = await settled(t.key, id);
        assert.equal(event.status, "failed", JSON.stringify(event));
        assert.equal(event.results, null);
        assert.equal(event.error.code, "quota_exceeded");
        assert.match(event.error.detail, /active_memories/);
        assert.equal((await as(t.key, "GET", "/v1/memories")).body.results.length, 0);
        assert.equal((await metric(t.key, "memory_operations")).used, 0);
      });
    });

    describe("GET /v1/events/{id}", () => {
      test("another tenant's or project's event, a malformed or unknown id: 404", async () => {
        const t = await provision({ plan: "growth" });
        const id = await accepted(t.key, "/v1/memories", { text: "mine", async: true });
        const other = await provision();
        assertProblem(await as(other.key, "GET", `/v1/events/${id}`), 404, "not_found");
        const p2 = await as(t.key, "POST", "/v1/projects", { name: "second" });
        assert.equal(p2.status, 201, p2.text);
        const k2 = await as(t.key, "POST", "/v1/keys", { project_id: p2.body.id });
        assertProblem(await as(k2.body.key, "GET", `/v1/events/${id}`), 404, "not_found");
        for (const bad of ["not-an-event", "evt_01ARZ3NDEKTSV4RRFFQ69G5FAV", id.toLowerCase()]) {
          assertProblem(await as(t.key, "GET", `/v1/events/${bad}`), 404, "not_found");
        }
        assert.equal((await settled(t.key, id)).status, "succeeded");
      });

      test("deleting the tenant removes its events (counted in the receipt)", async () => {
        const t = await provision();
        const id = await accepted(t.key, "/v1/memories", { text: "gone soon", async: true });
        assert.equal((await settled(t.key, id)).status, "succeeded");
        const r = await suite.admin("DELETE", `/v1/admin/tenants/${t.id}`);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.body.removed.memory_events, 1);
      });

      test("needs memories:read and a key", async () => {
        const t = await provision();
        const id = await accepted(t.key, "/v1/memories", { text: "scoped", async: true });
        const writeOnly = await as(t.key, "POST", "/v1/keys", { scopes: ["memories:write"] });
        assertProblem(await as(writeOnly.body.key, "GET", `/v1/events/${id}`), 403, "forbidden");
        assertProblem(await suite.call("GET", `/v1/events/${id}`), 401, "unauthenticated");
      });
    });
  },
  { ENGRAM_INGEST_IN_PROCESS: "on" },
);
