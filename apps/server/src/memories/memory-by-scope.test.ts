import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Memory } from "@engram/sdk";
import { assertProblem } from "../testing/http.ts";
import { add, listAll, MISSING_ID } from "../testing/memory-fixtures.ts";
import {
  describeOnBackends,
  expectProblem,
  expectUnauthenticated,
  ids,
  keyWith,
  raw,
  sorted,
  tenant,
} from "../testing/route-suite.ts";

// Memories by scope: listing and bulk delete.
// The same tests on each database backend (testing/route-suite.ts).

describeOnBackends("memory routes", () => {
  describe("GET /v1/memories", () => {
    test("pages newest first through every memory of the scope exactly once", async () => {
      const t = await tenant();
      const created: string[] = [];
      for (let i = 0; i < 7; i++)
        created.push(await add(t, `Note ${i} about the garden`, { user_id: "u1" }));
      await add(t, "Someone else's note", { user_id: "u2" });

      const pages: Memory[][] = [];
      let cursor: string | undefined;
      do {
        const page = await t.client.listMemories({
          user_id: "u1",
          limit: 3,
          ...(cursor ? { cursor } : {}),
        });
        pages.push(page.results);
        cursor = page.next_cursor ?? undefined;
      } while (cursor && pages.length < 10);
      assert.deepEqual(
        pages.map((p) => p.length),
        [3, 3, 1],
      );
      const listed = pages.flat();
      assert.deepEqual(ids(listed), [...created].reverse());
      for (const m of listed) assert.equal(m.user_id, "u1");
      const times = listed.map((m) => m.created_at);
      assert.deepEqual(times, [...times].sort().reverse());

      // An exact multiple of the page size ends with a null cursor, not an empty page.
      const exact = await t.client.listMemories({ user_id: "u1", limit: 7 });
      assert.equal(exact.results.length, 7);
      assert.equal(exact.next_cursor, null);
    });

    test("without scope lists the whole tenant; scopes narrow it; default page is 20", async () => {
      const t = await tenant();
      const { results } = await t.client.batchAddMemories({
        memories: Array.from({ length: 25 }, (_, i) => ({
          text: `Fact ${i}`,
          user_id: `u${i % 2}`,
          agent_id: i < 5 ? "a1" : "a2",
          session_id: i === 0 ? "s1" : "s2",
        })),
      });
      const first = await t.client.listMemories();
      assert.equal(first.results.length, 20);
      assert.ok(first.next_cursor);
      assert.deepEqual(sorted(ids(await listAll(t))), sorted(ids(results)));
      assert.equal((await listAll(t, { user_id: "u0" })).length, 13);
      assert.equal((await listAll(t, { agent_id: "a1" })).length, 5);
      assert.deepEqual(ids(await listAll(t, { session_id: "s1" })), [results[0]?.id]);
      assert.equal((await listAll(t, { user_id: "u1", agent_id: "a1" })).length, 2);
      assert.deepEqual(await t.client.listMemories({ user_id: "nobody" }), {
        results: [],
        next_cursor: null,
      });
    });

    test("errors: bad cursor, out-of-range limit and unknown parameters are 400", async () => {
      const t = await tenant();
      await expectProblem(
        t.client.listMemories({ cursor: "not-a-cursor" }),
        400,
        "validation_failed",
        "cursor",
      );
      await expectProblem(
        t.client.listMemories({ cursor: MISSING_ID }),
        400,
        "validation_failed",
        "cursor",
      );
      await expectProblem(t.client.listMemories({ limit: 0 }), 400, "validation_failed", "limit");
      await expectProblem(t.client.listMemories({ limit: 101 }), 400, "validation_failed", "limit");
      assertProblem(
        await raw("GET", "/v1/memories?limit=ten", { token: t.key }),
        400,
        "validation_failed",
        "limit",
      );
      assertProblem(
        await raw("GET", "/v1/memories?owner=u1", { token: t.key }),
        400,
        "validation_failed",
        "owner",
      );
      assertProblem(
        await raw("GET", "/v1/memories?user_id=%00", { token: t.key }),
        400,
        "validation_failed",
        "user_id",
      );
    });

    test("security: no key 401; write-only key 403; other tenants' memories never appear", async () => {
      await expectUnauthenticated("GET", "/v1/memories");
      const a = await tenant();
      const b = await tenant();
      const mine = await add(a, "Lives near the river", { user_id: "shared" });
      await add(b, "Lives near the river", { user_id: "shared" });
      await add(b, "Lives near the sea", { user_id: "shared" });
      await expectProblem((await keyWith(a, ["memories:write"])).listMemories(), 403, "forbidden");
      assert.deepEqual(ids(await listAll(a)), [mine]);
      assert.deepEqual(ids(await listAll(a, { user_id: "shared" })), [mine]);
      assert.deepEqual(ids((await (await keyWith(a, ["memories:read"])).listMemories()).results), [
        mine,
      ]);
    });
  });

  describe("DELETE /v1/memories (bulk, by scope)", () => {
    test("removes only the scope and returns the count", async () => {
      const t = await tenant();
      const { results } = await t.client.batchAddMemories({
        memories: [
          { text: "one", user_id: "u1", session_id: "s1" },
          { text: "two", user_id: "u1", session_id: "s1" },
          { text: "three", user_id: "u1", session_id: "s2" },
          { text: "four", user_id: "u2", session_id: "s1" },
          { text: "five" },
        ],
      });
      const id = (i: number) => results[i]?.id ?? "";
      assert.deepEqual(await t.client.deleteMemories({ user_id: "u1", session_id: "s1" }), {
        deleted: 2,
      });
      assert.deepEqual(sorted(ids(await listAll(t))), sorted([2, 3, 4].map(id)));
      assert.deepEqual(await t.client.deleteMemories({ user_id: "u1" }), { deleted: 1 });
      assert.deepEqual(await t.client.deleteMemories({ user_id: "u1" }), { deleted: 0 });
      assert.deepEqual(sorted(ids(await listAll(t))), sorted([3, 4].map(id)));
      // Each bulk-deleted memory records its DELETE.
      const history = (await t.client.getMemoryHistory(id(0))).results;
      assert.deepEqual(
        history.map((h) => [h.event, h.old_memory, h.new_memory]),
        [
          ["ADD", null, "one"],
          ["DELETE", "one", null],
        ],
      );
    });

    test("errors: at least one scope id is required; empty or unknown parameters are 400", async () => {
      const t = await tenant();
      await add(t, "keep me", { user_id: "u1" });
      await expectProblem(t.client.deleteMemories({}), 400, "validation_failed", "user_id");
      assertProblem(
        await raw("DELETE", "/v1/memories?user_id=", { token: t.key }),
        400,
        "validation_failed",
        "user_id",
      );
      assertProblem(
        await raw("DELETE", "/v1/memories?owner=u1", { token: t.key }),
        400,
        "validation_failed",
        "owner",
      );
      assert.equal((await listAll(t)).length, 1);
    });

    test("security: no key 401; read-only key 403; another tenant's same user_id is untouched", async () => {
      await expectUnauthenticated("DELETE", "/v1/memories?user_id=u1");
      const a = await tenant();
      const b = await tenant();
      await a.client.batchAddMemories({
        memories: [
          { text: "a1", user_id: "u1" },
          { text: "a2", user_id: "u1" },
        ],
      });
      const theirs = await b.client.batchAddMemories({
        memories: [
          { text: "b1", user_id: "u1" },
          { text: "a1", user_id: "u1" },
        ],
      });
      await expectProblem(
        (await keyWith(a, ["memories:read"])).deleteMemories({ user_id: "u1" }),
        403,
        "forbidden",
      );
      assert.equal((await listAll(a)).length, 2);
      assert.deepEqual(await a.client.deleteMemories({ user_id: "u1" }), { deleted: 2 });
      assert.deepEqual(
        sorted(ids(await listAll(b, { user_id: "u1" }))),
        sorted(ids(theirs.results)),
      );
    });
  });
});
