import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { add, listAll, MALFORMED_ID, MISSING_ID } from "../testing/memory-fixtures.ts";
import {
  describeOnBackends,
  expectInvalidJson,
  expectProblem,
  expectUnauthenticated,
  ids,
  isIso,
  keyWith,
  raw,
  tenant,
} from "../testing/route-suite.ts";

// One memory by id: get, update, delete and its history.
// The same tests on each database backend (testing/route-suite.ts).

describeOnBackends("memory routes", () => {
  describe("GET /v1/memories/{id}", () => {
    test("returns the memory", async () => {
      const t = await tenant();
      const id = await add(t, "Birthday is on 3 March", { agent_id: "a1", metadata: { k: 1 } });
      const m = await t.client.getMemory(id);
      assert.equal(m.id, id);
      assert.equal(m.memory, "Birthday is on 3 March");
      assert.deepEqual([m.user_id, m.agent_id, m.session_id], [null, "a1", null]);
      assert.deepEqual(m.metadata, { k: 1 });
      assert.equal(m.created_at, m.updated_at);
      // Allow-listed shape: no internal columns leak.
      assert.deepEqual(Object.keys(m).sort(), [
        "agent_id",
        "categories",
        "created_at",
        "embedding_model",
        "id",
        "memory",
        "metadata",
        "project_id",
        "role",
        "session_id",
        "sources",
        "superseded_by",
        "timestamp",
        "updated_at",
        "user_id",
        "valid_from",
        "valid_to",
      ]);
      assert.equal(m.project_id, t.projectId);
      // Verbatim: valid from when it was stored, current, no categories, no source messages.
      assert.equal(m.valid_from, m.created_at);
      assert.equal(m.valid_to, null);
      assert.equal(m.superseded_by, null);
      assert.deepEqual([m.categories, m.sources], [[], []]);
    });

    test("errors: unknown ids (well-formed or not) are 404 not_found", async () => {
      const { client } = await tenant();
      await expectProblem(client.getMemory(MISSING_ID), 404, "not_found");
      await expectProblem(client.getMemory(MALFORMED_ID), 404, "not_found");
      await expectProblem(client.getMemory("hist_01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404, "not_found");
    });

    test("security: no key 401; write-only key 403; another tenant's id 404", async () => {
      const a = await tenant();
      const id = await add(a, "Drives a blue van");
      await expectUnauthenticated("GET", `/v1/memories/${id}`);
      await expectProblem((await keyWith(a, ["memories:write"])).getMemory(id), 403, "forbidden");
      assert.equal((await (await keyWith(a, ["memories:read"])).getMemory(id)).id, id);
      await expectProblem((await tenant()).client.getMemory(id), 404, "not_found");
    });
  });

  describe("PATCH /v1/memories/{id}", () => {
    test("new text is re-embedded: the new meaning finds it, the old one no longer ranks it first", async () => {
      const t = await tenant();
      const { results } = await t.client.batchAddMemories({
        memories: [
          { text: "I love hiking in the mountains on weekends" },
          { text: "We went for a long walk in the forest yesterday" },
          { text: "My car needs an oil change" },
          { text: "Bob's favourite football team is Arsenal" },
        ],
      });
      const id = results[0]?.id ?? "";
      const top = async (query: string) => (await t.client.searchMemories({ query })).results[0];
      assert.equal((await top("trekking up hills"))?.id, id);
      const before = await t.client.getMemory(id);

      const updated = await t.client.updateMemory(id, {
        text: "I am a pastry chef who bakes croissants",
      });
      assert.equal(updated.memory, "I am a pastry chef who bakes croissants");
      assert.equal(updated.created_at, before.created_at);
      assert.ok(updated.updated_at >= before.updated_at);
      assert.deepEqual(await t.client.getMemory(id), updated);

      assert.equal((await top("making french baked goods"))?.id, id);
      assert.notEqual((await top("trekking up hills"))?.id, id);
    });

    test("metadata is replaced, not merged; text stays", async () => {
      const t = await tenant();
      const id = await add(t, "Allergic to cats", { metadata: { a: 1, b: 2 } });
      const m = await t.client.updateMemory(id, { metadata: { c: 3 } });
      assert.deepEqual(m.metadata, { c: 3 });
      assert.equal(m.memory, "Allergic to cats");
      assert.deepEqual((await t.client.getMemory(id)).metadata, { c: 3 });
      const hits = await t.client.searchMemories({ query: "cats", filters: { a: 1 } });
      assert.deepEqual(hits.results, []);
    });

    test("duplicate detection follows the new text; colliding with another memory is 409", async () => {
      const t = await tenant();
      const id = await add(t, "Favourite colour is blue", { user_id: "u1" });
      const other = await add(t, "Has a sister named Ann", { user_id: "u1" });
      await t.client.updateMemory(id, { text: "Favourite colour is green" });
      const again = await t.client.addMemory({
        text: "favourite colour is GREEN",
        user_id: "u1",
      });
      assert.deepEqual([again.results[0]?.event, again.results[0]?.id], ["NOOP", id]);
      const old = await t.client.addMemory({ text: "Favourite colour is blue", user_id: "u1" });
      assert.equal(old.results[0]?.event, "ADD");

      await expectProblem(
        t.client.updateMemory(other, { text: "Favourite colour is green" }),
        409,
        "conflict",
        "text",
      );
      assert.equal((await t.client.getMemory(other)).memory, "Has a sister named Ann");
    });

    test("errors: malformed JSON is 400 invalid_json", async () => {
      const t = await tenant();
      await expectInvalidJson(t, "PATCH", `/v1/memories/${await add(t, "x")}`);
    });

    test("errors: empty, unknown, oversized and invalid fields", async () => {
      const t = await tenant();
      const id = await add(t, "Speaks French");
      const bad = (body: unknown) =>
        t.client.updateMemory(id, body as Parameters<typeof t.client.updateMemory>[1]);
      await expectProblem(bad({}), 400, "validation_failed");
      await expectProblem(bad({ memory: "x" }), 400, "validation_failed", "memory");
      await expectProblem(bad({ text: "" }), 400, "validation_failed", "text");
      await expectProblem(bad({ text: "a".repeat(16_385) }), 400, "validation_failed", "text");
      await expectProblem(
        bad({ metadata: { blob: "x".repeat(17 * 1024) } }),
        400,
        "validation_failed",
        "metadata",
      );
      await expectProblem(bad({ metadata: "x" }), 400, "validation_failed", "metadata");
      const m = await t.client.getMemory(id);
      assert.equal(m.memory, "Speaks French");
      assert.deepEqual(m.metadata, {});
      assert.equal((await t.client.getMemoryHistory(id)).results.length, 1);
    });

    test("errors: unknown ids (well-formed or not) are 404 not_found", async () => {
      const { client } = await tenant();
      await expectProblem(client.updateMemory(MISSING_ID, { text: "x" }), 404, "not_found");
      await expectProblem(client.updateMemory(MALFORMED_ID, { text: "x" }), 404, "not_found");
    });

    test("security: no key 401; read-only key 403; another tenant's id 404; nothing changes", async () => {
      const a = await tenant();
      const id = await add(a, "Plays the cello", { metadata: { v: 1 } });
      await expectUnauthenticated("PATCH", `/v1/memories/${id}`, { text: "x" });
      const reader = await keyWith(a, ["memories:read"]);
      await expectProblem(reader.updateMemory(id, { text: "Plays the drums" }), 403, "forbidden");
      const b = await tenant();
      await expectProblem(b.client.updateMemory(id, { text: "Plays the drums" }), 404, "not_found");
      await expectProblem(b.client.updateMemory(id, { metadata: { v: 2 } }), 404, "not_found");
      const m = await a.client.getMemory(id);
      assert.equal(m.memory, "Plays the cello");
      assert.deepEqual(m.metadata, { v: 1 });
      assert.deepEqual(
        (await a.client.getMemoryHistory(id)).results.map((h) => h.event),
        ["ADD"],
      );
    });
  });

  describe("DELETE /v1/memories/{id}", () => {
    test("deletes one memory: gone from get, list and search; others stay", async () => {
      const t = await tenant();
      const id = await add(t, "Has a peanut allergy", { user_id: "u1" });
      const keep = await add(t, "Has a shellfish allergy", { user_id: "u1" });
      assert.deepEqual(await t.client.deleteMemory(id), { id, deleted: true });
      await expectProblem(t.client.getMemory(id), 404, "not_found");
      await expectProblem(t.client.deleteMemory(id), 404, "not_found");
      assert.deepEqual(ids(await listAll(t)), [keep]);
      assert.deepEqual(ids((await t.client.searchMemories({ query: "peanut allergy" })).results), [
        keep,
      ]);
      // The text is free again in that scope.
      const re = await t.client.addMemory({ text: "Has a peanut allergy", user_id: "u1" });
      assert.equal(re.results[0]?.event, "ADD");
      assert.notEqual(re.results[0]?.id, id);
    });

    test("content-type application/json with an empty body (as many clients send) is no body", async () => {
      const t = await tenant();
      const id = await add(t, "Takes the early train");
      const r = await raw("DELETE", `/v1/memories/${id}`, { token: t.key, body: "" });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, { id, deleted: true });
      await expectProblem(t.client.getMemory(id), 404, "not_found");
      await add(t, "Takes the late train", { user_id: "u9" });
      const bulk = await raw("DELETE", "/v1/memories?user_id=u9", { token: t.key, body: "" });
      assert.equal(bulk.status, 200, JSON.stringify(bulk.body));
      assert.deepEqual(bulk.body, { deleted: 1 });
    });

    test("errors: unknown ids (well-formed or not) are 404 not_found", async () => {
      const { client } = await tenant();
      await expectProblem(client.deleteMemory(MISSING_ID), 404, "not_found");
      await expectProblem(client.deleteMemory(MALFORMED_ID), 404, "not_found");
    });

    test("security: no key 401; read-only key 403; another tenant's id 404; nothing is deleted", async () => {
      const a = await tenant();
      const id = await add(a, "Works night shifts");
      await expectUnauthenticated("DELETE", `/v1/memories/${id}`);
      await expectProblem((await keyWith(a, ["memories:read"])).deleteMemory(id), 403, "forbidden");
      await expectProblem((await tenant()).client.deleteMemory(id), 404, "not_found");
      assert.equal((await a.client.getMemory(id)).memory, "Works night shifts");
      assert.deepEqual(
        (await a.client.getMemoryHistory(id)).results.map((h) => h.event),
        ["ADD"],
      );
    });
  });

  describe("GET /v1/memories/{id}/history", () => {
    test("records ADD, UPDATE (old and new) and DELETE with times, readable after deletion", async () => {
      const t = await tenant();
      const id = await add(t, "Lives in Berlin", { metadata: { city: "Berlin" } });
      await t.client.updateMemory(id, { text: "Lives in Munich" });
      await t.client.updateMemory(id, { metadata: { city: "Munich" } });
      await t.client.deleteMemory(id);

      const { results } = await t.client.getMemoryHistory(id);
      assert.deepEqual(
        results.map((h) => [h.event, h.old_memory, h.new_memory, h.old_metadata, h.new_metadata]),
        [
          ["ADD", null, "Lives in Berlin", null, { city: "Berlin" }],
          ["UPDATE", "Lives in Berlin", "Lives in Munich", { city: "Berlin" }, { city: "Berlin" }],
          ["UPDATE", "Lives in Munich", "Lives in Munich", { city: "Berlin" }, { city: "Munich" }],
          ["DELETE", "Lives in Munich", null, { city: "Munich" }, null],
        ],
      );
      for (const h of results) {
        assert.equal(h.memory_id, id);
        assert.ok(isIso(h.created_at), h.created_at);
      }
      const times = results.map((h) => h.created_at);
      assert.deepEqual(times, [...times].sort());
      assert.equal(new Set(ids(results)).size, 4);
    });

    test("a NOOP add and an idempotent replay record nothing", async () => {
      const t = await tenant();
      const { results } = await t.client.addMemory(
        { text: "Drinks oat milk" },
        { idempotencyKey: "h1" },
      );
      await t.client.addMemory({ text: "Drinks oat milk" }, { idempotencyKey: "h1" });
      await t.client.addMemory({ text: "drinks OAT milk" });
      const history = await t.client.getMemoryHistory(results[0]?.id ?? "");
      assert.deepEqual(
        history.results.map((h) => h.event),
        ["ADD"],
      );
    });

    test("errors: unknown ids (well-formed or not) are 404 not_found", async () => {
      const { client } = await tenant();
      await expectProblem(client.getMemoryHistory(MISSING_ID), 404, "not_found");
      await expectProblem(client.getMemoryHistory(MALFORMED_ID), 404, "not_found");
    });

    test("security: no key 401; write-only key 403; another tenant's id 404, even after deletion", async () => {
      const a = await tenant();
      const id = await add(a, "Owns a sailboat");
      await expectUnauthenticated("GET", `/v1/memories/${id}/history`);
      await expectProblem(
        (await keyWith(a, ["memories:write"])).getMemoryHistory(id),
        403,
        "forbidden",
      );
      const b = await tenant();
      await expectProblem(b.client.getMemoryHistory(id), 404, "not_found");
      await a.client.deleteMemory(id);
      await expectProblem(b.client.getMemoryHistory(id), 404, "not_found");
      assert.equal(
        (await (await keyWith(a, ["memories:read"])).getMemoryHistory(id)).results.length,
        2,
      );
    });
  });
});
