import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { add, listAll } from "../testing/memory-fixtures.ts";
import {
  describeOnBackends,
  expectInvalidJson,
  expectProblem,
  expectUnauthenticated,
  ids,
  keyWith,
  tenant,
} from "../testing/route-suite.ts";

// Adding many memories in one call: POST /v1/memories/batch.
// The same tests on each database backend (testing/route-suite.ts).

describeOnBackends("memory routes", () => {
  describe("POST /v1/memories/batch", () => {
    test("results come back in order, duplicates (in the batch or stored) as NOOP", async () => {
      const t = await tenant();
      const existing = await add(t, "Lives in Oslo", { user_id: "u1" });
      const { results } = await t.client.batchAddMemories({
        memories: [
          { text: "Works as a nurse", user_id: "u1" },
          { text: "lives in OSLO ", user_id: "u1" },
          {
            messages: [
              { role: "user", content: "I have two cats" },
              { role: "assistant", content: "Two cats, noted" },
            ],
            user_id: "u1",
          },
          { text: "works as a  nurse", user_id: "u1" },
          { text: "Works as a nurse", user_id: "u2" },
        ],
      });
      assert.deepEqual(
        results.map((r) => [r.event, r.memory, r.role ?? null]),
        [
          ["ADD", "Works as a nurse", null],
          ["NOOP", "Lives in Oslo", null],
          ["ADD", "I have two cats", "user"],
          ["ADD", "Two cats, noted", "assistant"],
          ["NOOP", "Works as a nurse", null],
          ["ADD", "Works as a nurse", null],
        ],
      );
      assert.equal(results[1]?.id, existing);
      assert.equal(results[4]?.id, results[0]?.id);
      assert.notEqual(results[5]?.id, results[0]?.id);
      assert.equal(new Set(ids(results)).size, 5);
      assert.equal((await listAll(t, { user_id: "u1" })).length, 4);
      assert.equal((await t.client.getMemory(results[5]?.id ?? "")).user_id, "u2");
    });

    test("Idempotency-Key replays the same ids; reuse with another body is 422", async () => {
      const t = await tenant();
      const body = { memories: [{ text: "Likes jazz" }, { text: "Plays chess" }] };
      const first = await t.client.batchAddMemories(body, { idempotencyKey: "batch-1" });
      const replay = await t.client.batchAddMemories(body, { idempotencyKey: "batch-1" });
      assert.deepEqual(replay, first);
      assert.deepEqual(
        first.results.map((r) => r.event),
        ["ADD", "ADD"],
      );
      await expectProblem(
        t.client.batchAddMemories(
          { memories: [{ text: "Likes blues" }] },
          { idempotencyKey: "batch-1" },
        ),
        422,
        "idempotency_key_reused",
      );
      assert.equal((await listAll(t)).length, 2);
    });

    test("errors: malformed JSON is 400 invalid_json", async () => {
      await expectInvalidJson(await tenant(), "POST", "/v1/memories/batch");
    });

    test("errors: size and shape of the batch and of each item, naming the item", async () => {
      const t = await tenant();
      const c = t.client;
      const many = Array.from({ length: 1_001 }, (_, i) => ({ text: `memory ${i}` }));
      await expectProblem(
        c.batchAddMemories({ memories: many }),
        400,
        "validation_failed",
        "memories",
      );
      await expectProblem(
        c.batchAddMemories({ memories: [] }),
        400,
        "validation_failed",
        "memories",
      );
      await expectProblem(
        c.batchAddMemories({} as Parameters<typeof c.batchAddMemories>[0]),
        400,
        "validation_failed",
        "memories",
      );
      await expectProblem(
        c.batchAddMemories({
          memories: [{ text: "ok" }, { text: "x", bogus: 1 } as { text: string }],
        }),
        400,
        "validation_failed",
        "memories[1].bogus",
      );
      await expectProblem(
        c.batchAddMemories({ memories: [{ text: "ok" }, { text: "a".repeat(16_385) }] }),
        400,
        "validation_failed",
        "memories[1].text",
      );
      // Checks the service makes (not the schema) also name the item, and nothing is stored.
      await expectProblem(
        c.batchAddMemories({
          memories: [{ text: "ok" }, { text: "x", messages: [{ role: "user", content: "y" }] }],
        }),
        400,
        "validation_failed",
        "memories[1].text",
      );
      await expectProblem(
        c.batchAddMemories({
          memories: [{ text: "ok" }, { text: "x", metadata: { blob: "x".repeat(17 * 1024) } }],
        }),
        400,
        "validation_failed",
        "memories[1].metadata",
      );
      await expectProblem(
        c.batchAddMemories({ memories: [{ text: "ok" }, { text: "x", infer: true }] }),
        400,
        "validation_failed",
        "memories[1].infer",
      );
      assert.equal((await listAll(t)).length, 0);
    });

    test("security: no key 401; a read-only key cannot batch-add (403)", async () => {
      await expectUnauthenticated("POST", "/v1/memories/batch", { memories: [{ text: "x" }] });
      const t = await tenant();
      const reader = await keyWith(t, ["memories:read"]);
      await expectProblem(reader.batchAddMemories({ memories: [{ text: "x" }] }), 403, "forbidden");
      assert.equal((await listAll(t)).length, 0);
    });
  });
});
