import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertProblem } from "../testing/http.ts";
import { add, listAll, MEM_ID } from "../testing/memory-fixtures.ts";
import {
  clientFor,
  describeOnBackends,
  expectInvalidJson,
  expectProblem,
  expectUnauthenticated,
  isIso,
  keyWith,
  raw,
  sorted,
  tenant,
} from "../testing/route-suite.ts";

// Adding one memory: POST /v1/memories.
// The same tests on each database backend (testing/route-suite.ts).

describeOnBackends("memory routes", () => {
  describe("POST /v1/memories", () => {
    test("stores the text verbatim with its scope, metadata and timestamp", async () => {
      const t = await tenant();
      const text = "  Prefers GREEN tea,\n  not coffee  ";
      const metadata = { source: "chat", priority: 2, tags: ["drinks"], nested: { ok: true } };
      const { results } = await t.client.addMemory({
        text,
        user_id: "u1",
        agent_id: "a1",
        session_id: "s1",
        metadata,
        timestamp: "2024-02-29T13:45:10.250Z",
        infer: false,
      });
      assert.equal(results.length, 1);
      const [r] = results;
      assert.ok(r);
      assert.match(r.id, MEM_ID);
      assert.equal(r.event, "ADD");
      assert.equal(r.memory, text);

      const m = await t.client.getMemory(r.id);
      assert.equal(m.memory, text);
      assert.equal(m.role, null);
      assert.deepEqual([m.user_id, m.agent_id, m.session_id], ["u1", "a1", "s1"]);
      assert.deepEqual(m.metadata, metadata);
      assert.equal(m.timestamp, "2024-02-29T13:45:10.250Z");
      assert.ok(m.embedding_model.length > 0);
      assert.ok(isIso(m.created_at) && isIso(m.updated_at));
    });

    test("timestamp with an offset round-trips as the same instant in UTC; absent is null", async () => {
      const t = await tenant();
      const withOffset = await add(t, "Met Dana at the café", {
        timestamp: "2024-05-01T09:00:00+02:00",
      });
      assert.equal((await t.client.getMemory(withOffset)).timestamp, "2024-05-01T07:00:00.000Z");
      const without = await add(t, "Met Eve at the library");
      assert.equal((await t.client.getMemory(without)).timestamp, null);
    });

    test("messages store one memory per message, keeping each role", async () => {
      const t = await tenant();
      const { results } = await t.client.addMemory({
        messages: [
          { role: "user", content: "I moved to Lisbon last month" },
          { role: "assistant", content: "Noted: you live in Lisbon now" },
          { role: "system", content: "The user speaks Portuguese" },
        ],
        user_id: "u1",
      });
      assert.deepEqual(
        results.map((r) => [r.event, r.role, r.memory]),
        [
          ["ADD", "user", "I moved to Lisbon last month"],
          ["ADD", "assistant", "Noted: you live in Lisbon now"],
          ["ADD", "system", "The user speaks Portuguese"],
        ],
      );
      for (const r of results) {
        const m = await t.client.getMemory(r.id);
        assert.equal(m.role, r.role);
        assert.equal(m.user_id, "u1");
      }
      assert.equal((await listAll(t, { user_id: "u1" })).length, 3);
    });

    test("an exact duplicate in the same scope is a NOOP with the existing id", async () => {
      const t = await tenant();
      const first = await add(t, "My dog is called Rex", { user_id: "u1" });
      const again = await t.client.addMemory({
        text: "  my DOG is\tcalled   rex ",
        user_id: "u1",
      });
      assert.deepEqual(again.results, [
        { id: first, memory: "My dog is called Rex", event: "NOOP" },
      ]);

      // The same text in any other scope is a new memory.
      const otherUser = await t.client.addMemory({ text: "My dog is called Rex", user_id: "u2" });
      const withAgent = await t.client.addMemory({
        text: "My dog is called Rex",
        user_id: "u1",
        agent_id: "a",
      });
      const unscoped = await t.client.addMemory({ text: "My dog is called Rex" });
      for (const r of [otherUser, withAgent, unscoped]) {
        assert.equal(r.results[0]?.event, "ADD");
        assert.notEqual(r.results[0]?.id, first);
      }
      assert.equal((await listAll(t, { user_id: "u1" })).length, 2);
      assert.equal((await listAll(t)).length, 4);
    });

    test("Idempotency-Key replays the first response; reuse with another body is 422", async () => {
      const t = await tenant();
      const body = { text: "Paid the electricity bill", user_id: "u1" };
      const first = await t.client.addMemory(body, { idempotencyKey: "add-1" });
      const replay = await t.client.addMemory(body, { idempotencyKey: "add-1" });
      assert.deepEqual(replay, first);
      assert.equal(replay.results[0]?.event, "ADD");
      assert.equal((await listAll(t)).length, 1);

      await expectProblem(
        t.client.addMemory({ ...body, text: "Paid the water bill" }, { idempotencyKey: "add-1" }),
        422,
        "idempotency_key_reused",
      );
      // The same key on another route is another request too.
      await expectProblem(
        t.client.batchAddMemories({ memories: [body] }, { idempotencyKey: "add-1" }),
        422,
        "idempotency_key_reused",
      );
      // Keys are per tenant: another tenant may use the same one.
      const other = await tenant();
      const theirs = await other.client.addMemory(body, { idempotencyKey: "add-1" });
      assert.notEqual(theirs.results[0]?.id, first.results[0]?.id);
      assert.equal((await listAll(t)).length, 1);
    });

    test("accepts text of exactly 16,384 characters and infer: false", async () => {
      const t = await tenant();
      const text = "a".repeat(16_384);
      const id = await add(t, text, { infer: false });
      assert.equal((await t.client.getMemory(id)).memory, text);
    });

    test("errors: malformed JSON is 400 invalid_json", async () => {
      await expectInvalidJson(await tenant(), "POST", "/v1/memories");
    });

    test("errors: unknown and missing fields name the field", async () => {
      const { client } = await tenant();
      const bad = (body: unknown) =>
        client.addMemory(body as Parameters<typeof client.addMemory>[0]);
      await expectProblem(bad({ text: "x", colour: "red" }), 400, "validation_failed", "colour");
      await expectProblem(
        bad({ messages: [{ role: "user" }] }),
        400,
        "validation_failed",
        "messages[0].content",
      );
      await expectProblem(
        bad({ messages: [{ role: "robot", content: "hi" }] }),
        400,
        "validation_failed",
        "messages[0].role",
      );
      await expectProblem(bad({ messages: [] }), 400, "validation_failed", "messages");
      await expectProblem(bad({ text: "" }), 400, "validation_failed", "text");
      await expectProblem(bad({ text: 42 }), 400, "validation_failed", "text");
      await expectProblem(bad({ text: "x", user_id: "" }), 400, "validation_failed", "user_id");
      await expectProblem(
        bad({ text: "x", metadata: ["a"] }),
        400,
        "validation_failed",
        "metadata",
      );
      await expectProblem(
        bad({ text: "x", timestamp: "yesterday" }),
        400,
        "validation_failed",
        "timestamp",
      );
    });

    test("errors: exactly one of text or messages", async () => {
      const { client } = await tenant();
      await expectProblem(
        client.addMemory({ text: "a", messages: [{ role: "user", content: "b" }] }),
        400,
        "validation_failed",
        "text",
      );
      await expectProblem(client.addMemory({ user_id: "u1" }), 400, "validation_failed", "text");
    });

    test("errors: oversized text, message and metadata are 400; a 5 MB body is 413", async () => {
      const t = await tenant();
      const long = "a".repeat(16_385);
      await expectProblem(t.client.addMemory({ text: long }), 400, "validation_failed", "text");
      await expectProblem(
        t.client.addMemory({ messages: [{ role: "user", content: long }] }),
        400,
        "validation_failed",
        "messages[0].content",
      );
      await expectProblem(
        t.client.addMemory({ text: "big metadata", metadata: { blob: "x".repeat(17 * 1024) } }),
        400,
        "validation_failed",
        "metadata",
      );
      const huge = JSON.stringify({ text: "x", metadata: { blob: "y".repeat(5 * 1024 * 1024) } });
      assertProblem(
        await raw("POST", "/v1/memories", { token: t.key, body: huge }),
        413,
        "payload_too_large",
      );
      assert.equal((await listAll(t)).length, 0);
    });

    test("errors: text Postgres cannot store exactly is 400, never 500", async () => {
      const t = await tenant();
      const bad = (body: object) => t.client.addMemory({ text: "ok", ...body });
      await expectProblem(bad({ text: "a\u0000b" }), 400, "validation_failed", "text");
      await expectProblem(bad({ text: "lone \ud800 surrogate" }), 400, "validation_failed", "text");
      await expectProblem(bad({ user_id: "u\u0000" }), 400, "validation_failed", "user_id");
      await expectProblem(
        bad({ metadata: { k: "v\u0000" } }),
        400,
        "validation_failed",
        "metadata.k",
      );
      await expectProblem(
        bad({ metadata: { "k\u0000": 1 } }),
        400,
        "validation_failed",
        "metadata",
      );
      // Built as text: JSON.stringify itself overflows the stack on nesting this deep.
      const deep = `${"[".repeat(10_000)}1${"]".repeat(10_000)}`;
      const r = await raw("POST", "/v1/memories", {
        token: t.key,
        body: `{"text":"x","metadata":{"deep":${deep}}}`,
      });
      assertProblem(r, 400, "validation_failed");
      assert.match(String(r.body.field), /^metadata\.deep\[0\]/);
      assert.equal((await listAll(t)).length, 0);
    });

    test("security: metadata keys naming object machinery are 400 naming the field, on every write", async () => {
      const t = await tenant();
      for (const key of ["constructor", "prototype"]) {
        const problem = await expectProblem(
          t.client.addMemory({ text: "x", metadata: { [key]: 1 } }),
          400,
          "validation_failed",
          "metadata",
        );
        assert.match(String(problem.detail), new RegExp(`"${key}"`));
        await expectProblem(
          t.client.batchAddMemories({ memories: [{ text: "x", metadata: { [key]: {} } }] }),
          400,
          "validation_failed",
          "memories[0].metadata",
        );
      }
      // __proto__ cannot be sent through the SDK (an object literal sets the prototype), so as
      // JSON text; constructor.prototype nested anywhere too.
      for (const [body, field] of [
        ['{"text":"x","metadata":{"__proto__":{"admin":true}}}', "metadata"],
        ['{"text":"x","metadata":{"a":{"b":{"__proto__":1}}}}', "metadata.a.b"],
        ['{"text":"x","metadata":{"a":{"constructor":{"prototype":{}}}}}', "metadata.a"],
        ['{"__proto__":{"text":"x"},"text":"x"}', "__proto__"],
      ] as const) {
        const r = await raw("POST", "/v1/memories", { token: t.key, body });
        assertProblem(r, 400, "validation_failed", field);
        assert.match(String(r.body.detail), /which is not allowed/);
      }
      const id = await add(t, "kept");
      await expectProblem(
        t.client.updateMemory(id, { metadata: { constructor: "x" } }),
        400,
        "validation_failed",
        "metadata",
      );
      assert.deepEqual(
        (await listAll(t)).map((m) => m.metadata),
        [{}],
      );
      // An ordinary key that merely contains those words is fine.
      await add(t, "also kept", { metadata: { constructor_name: "x", my_prototype: 1 } });
    });

    test("timestamp: years 0100 to 9999 (UTC) round-trip, leap seconds included; others are 400", async () => {
      const t = await tenant();
      const roundTrip = async (timestamp: string) =>
        (await t.client.getMemory(await add(t, `said at ${timestamp}`, { timestamp }))).timestamp;
      assert.equal(await roundTrip("0100-01-01T00:00:00Z"), "0100-01-01T00:00:00.000Z");
      assert.equal(await roundTrip("9999-12-31T23:59:59.999Z"), "9999-12-31T23:59:59.999Z");
      assert.equal(await roundTrip("2016-12-31T23:59:60Z"), "2017-01-01T00:00:00.000Z");
      for (const timestamp of [
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "0099-12-31T23:59:59Z",
        "9999-12-31T23:59:59-14:00",
        "2024-02-30T00:00:00Z",
      ]) {
        await expectProblem(
          t.client.addMemory({ text: "x", timestamp }),
          400,
          "validation_failed",
          "timestamp",
        );
      }
    });

    test("concurrent identical adds store one memory; with one Idempotency-Key all replay it", async () => {
      const t = await tenant();
      const same = await Promise.all(
        Array.from({ length: 6 }, () => t.client.addMemory({ text: "Runs every morning" })),
      );
      assert.equal(new Set(same.map((r) => r.results[0]?.id)).size, 1);
      assert.deepEqual(sorted(same.map((r) => r.results[0]?.event ?? "")), [
        "ADD",
        "NOOP",
        "NOOP",
        "NOOP",
        "NOOP",
        "NOOP",
      ]);
      const keyed = await Promise.all(
        Array.from({ length: 6 }, () =>
          t.client.addMemory({ text: "Swims on Sundays" }, { idempotencyKey: "concurrent" }),
        ),
      );
      for (const r of keyed) assert.deepEqual(r, keyed[0]);
      assert.equal(keyed[0]?.results[0]?.event, "ADD");
      assert.equal((await listAll(t)).length, 2);
    });

    test("errors: an over-long Idempotency-Key is 400", async () => {
      const t = await tenant();
      await expectProblem(
        t.client.addMemory({ text: "x" }, { idempotencyKey: "k".repeat(256) }),
        400,
        "validation_failed",
        "Idempotency-Key",
      );
    });

    test("security: no key or a garbage key is 401", async () => {
      await expectUnauthenticated("POST", "/v1/memories", { text: "x" });
      await expectProblem(
        clientFor("egm_garbage").addMemory({ text: "x" }),
        401,
        "unauthenticated",
      );
    });

    test("security: a read-only key cannot add (403) and stores nothing", async () => {
      const t = await tenant();
      const reader = await keyWith(t, ["memories:read"]);
      await expectProblem(reader.addMemory({ text: "x" }), 403, "forbidden");
      assert.equal((await listAll(t)).length, 0);
    });
  });
});
