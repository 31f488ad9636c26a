import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Database } from "../db/database.ts";
import { scopedIdempotency } from "../db/idempotency.ts";
import { newId } from "../lib/ids.ts";
import { eventIdempotency } from "../memories/memory-event-worker.ts";
import { createMemoryStore } from "../memories/memory-store.ts";
import {
  axis,
  draftMemory,
  projectOf,
  seedTenant,
  TEST_MODEL,
  testDatabases,
} from "../testing/test-databases.ts";
import { createErasureStore } from "./erasure-store.ts";

// What the route suite cannot time: an asynchronous add whose worker is already past reading its
// event when the user is erased. Its add then runs under the worker's Idempotency-Key, and must
// write nothing.

for (const backend of testDatabases) {
  describe(`erasure store on ${backend.name}`, () => {
    let db: Database;
    before(async () => {
      db = await backend.open();
    });
    after(() => db.close());

    const event = (tenantId: string, id: string, status: string, request: object) =>
      db.withTenant(tenantId, (tx) =>
        tx.query(
          `INSERT INTO memory_events (id, tenant_id, project_id, operation, request, status)
           VALUES ($1, $2, $3, 'memory.add', $4, $5)`,
          [id, tenantId, projectOf(tenantId), JSON.stringify(request), status],
        ),
      );

    test("an add already running when its user is erased replays an empty answer and writes nothing", async () => {
      const tenantId = await seedTenant(db);
      const projectId = projectOf(tenantId);
      const memories = createMemoryStore(db, TEST_MODEL);
      const running = newId("evt");
      const done = newId("evt");
      const batch = newId("evt");
      await event(tenantId, running, "running", { text: "late", user_id: "u1" });
      await event(tenantId, done, "succeeded", { text: "early", user_id: "u1" });
      // A batch naming the user among others is the user's too (its request holds their text).
      await event(tenantId, batch, "queued", {
        memories: [
          { text: "x", user_id: "u2" },
          { text: "y", user_id: "u1" },
        ],
      });
      await event(tenantId, newId("evt"), "queued", { text: "other", user_id: "u2" });
      await memories.insertMemories(tenantId, projectId, [draftMemory("early", axis(0))]);

      const receipt = await createErasureStore(db).eraseUser(
        { tenantId, projectId, userId: "u1", erasureId: newId("ers") },
        "test",
        async () => {},
      );
      assert.equal(receipt.removed.memory_events, 3);
      assert.equal(receipt.removed.memories, 1);

      const idem = (id: string) =>
        scopedIdempotency(eventIdempotency(id), "memories", projectId, 3600);
      // The worker's add of the running event, committing after the erasure: nothing is written.
      const late = await memories.insertMemories(
        tenantId,
        projectId,
        [draftMemory("late", axis(1))],
        idem(running),
      );
      assert.deepEqual(late, { results: [] });
      const left = await memories.listMemories(
        tenantId,
        { projectId, userId: "u1" },
        10,
        undefined,
      );
      assert.deepEqual(left.rows, []);
      // Unfinished events got that answer; the finished one needed none.
      const keys = await db.withTenant(tenantId, (tx) =>
        tx.query<{ key: string }>("SELECT key FROM idempotency_keys ORDER BY key"),
      );
      assert.deepEqual(
        keys.map((k) => k.key),
        [idem(batch).key, idem(running).key].sort(),
      );
      const [remaining] = await db.withTenant(tenantId, (tx) =>
        tx.query<{ n: number }>("SELECT count(*)::int AS n FROM memory_events"),
      );
      assert.equal(remaining?.n, 1, "the other user's event stays");
    });
  });
}
