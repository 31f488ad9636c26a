import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Database } from "../db/database.ts";
import { AppError } from "../lib/errors.ts";
import { keywordQuery } from "../search/query-text.ts";
import {
  axis,
  draftMemory,
  projectOf,
  seedTenant,
  TEST_MODEL,
  testDatabases,
} from "../testing/test-databases.ts";
import { contentHash } from "./content-hash.ts";
import { createMemorySearchStore } from "./memory-search-store.ts";
import { createMemoryStore } from "./memory-store.ts";

const draft = draftMemory;

for (const backend of testDatabases) {
  describe(`memory store on ${backend.name}`, () => {
    let db: Database;
    let store: ReturnType<typeof createMemoryStore>;
    let search: ReturnType<typeof createMemorySearchStore>;
    const tenant = async () => await seedTenant(db, "t");

    before(async () => {
      db = await backend.open();
      store = createMemoryStore(db, TEST_MODEL);
      search = createMemorySearchStore(db, TEST_MODEL);
    });
    after(() => db.close());

    test("inserts, and answers exact duplicates (stored or in the batch) as NOOP", async () => {
      const t = await tenant();
      const first = await store.insertMemories(t, projectOf(t), [draft("Likes tea", axis(0))]);
      const id = first.results[0]?.id;
      const again = await store.insertMemories(t, projectOf(t), [
        draft("likes   TEA", axis(0)),
        draft("Plays chess", axis(1)),
        draft("plays chess", axis(1)),
        draft("Likes tea", axis(0), { userId: "u2" }),
      ]);
      assert.deepEqual(
        again.results.map((r) => r.event),
        ["NOOP", "ADD", "NOOP", "ADD"],
      );
      assert.equal(again.results[0]?.id, id);
      assert.equal(again.results[2]?.id, again.results[1]?.id);
      const page = await store.listMemories(t, {}, 10, undefined);
      assert.equal(page.rows.length, 3);
    });

    test("a row with a 512-d vector keeps its text and tsvector in place; only a row too long for a page is shrunk", async () => {
      // Migration 0020 (ADR 0044): before it, the vector alone put every row over the 2 kB TOAST
      // threshold, and the text and tsvector went out of line.
      const model = { id: "use-lite-512", dimension: 512 };
      const vector = `[${Array.from({ length: 512 }, (_, i) => (i === 0 ? 1 : 0)).join(",")}]`;
      const t = await tenant();
      const wide = createMemoryStore(db, model);
      const short = "Maya moved to Lisbon in March and teaches yoga on Sundays.";
      const long = Array.from({ length: 1500 }, (_, i) => `word${i}`).join(" ");
      const added = await wide.insertMemories(t, projectOf(t), [
        draft(short, vector),
        draft(long, vector),
      ]);
      const ids = added.results.map((r) => r.id);
      const rows = await db.withTenant(t, (tx) =>
        tx.query<{ id: string; text_out: boolean; fts_out: boolean; vector_out: boolean }>(
          `SELECT id, pg_column_toast_chunk_id(memory) IS NOT NULL AS text_out,
                  pg_column_toast_chunk_id(fts) IS NOT NULL AS fts_out,
                  pg_column_toast_chunk_id(embedding) IS NOT NULL AS vector_out
           FROM memories WHERE id = ANY($1::text[])`,
          [ids],
        ),
      );
      const of = (id: string | undefined) => rows.find((r) => r.id === id);
      assert.deepEqual(
        of(ids[0]),
        { id: ids[0], text_out: false, fts_out: false, vector_out: false },
        "a sentence: the whole row in place",
      );
      assert.equal(of(ids[1])?.vector_out, false, "the vector stays in its row (ADR 0012)");
      assert.ok(of(ids[1])?.text_out || of(ids[1])?.fts_out, "a 13 kB text is moved out");
    });

    test("a scope with absent ids is distinct from one with them (no key collisions)", async () => {
      const t = await tenant();
      const a = await store.insertMemories(t, projectOf(t), [
        draft("same", axis(0), { userId: "x", agentId: null }),
      ]);
      const b = await store.insertMemories(t, projectOf(t), [
        draft("same", axis(0), { userId: null, agentId: "x" }),
      ]);
      assert.equal(b.results[0]?.event, "ADD");
      assert.notEqual(a.results[0]?.id, b.results[0]?.id);
    });

    test("lists newest first by id cursor, scoped", async () => {
      const t = await tenant();
      const ids = [];
      for (let i = 0; i < 5; i++) {
        const r = await store.insertMemories(t, projectOf(t), [draft(`fact ${i}`, axis(i))]);
        ids.push(r.results[0]?.id);
      }
      await store.insertMemories(t, projectOf(t), [draft("other user", axis(0), { userId: "u9" })]);
      const p1 = await store.listMemories(t, { userId: "u1" }, 2, undefined);
      assert.deepEqual(
        p1.rows.map((m) => m.id),
        [ids[4], ids[3]],
      );
      assert.equal(p1.more, true);
      const p2 = await store.listMemories(t, { userId: "u1" }, 10, ids[3]);
      assert.deepEqual(
        p2.rows.map((m) => m.id),
        [ids[2], ids[1], ids[0]],
      );
      assert.equal(p2.more, false);
    });

    test("update and delete write history with old and new values", async () => {
      const t = await tenant();
      const [added] = (
        await store.insertMemories(t, projectOf(t), [draft("v1", axis(0), { metadata: { a: 1 } })])
      ).results;
      const id = added?.id as string;
      const updated = await store.updateMemory(t, projectOf(t), id, {
        memory: "v2",
        contentHash: contentHash("v2"),
        embedding: axis(1),
        metadata: { a: 2 },
      });
      assert.equal(updated?.memory, "v2");
      assert.equal(await store.deleteMemories(t, projectOf(t), { id }), 1);
      assert.equal(await store.getMemory(t, projectOf(t), id), undefined);
      const history = await store.getHistory(t, projectOf(t), id);
      assert.deepEqual(
        history.map((h) => [h.event, h.old_memory, h.new_memory, h.old_metadata, h.new_metadata]),
        [
          ["ADD", null, "v1", null, { a: 1 }],
          ["UPDATE", "v1", "v2", { a: 1 }, { a: 2 }],
          ["DELETE", "v2", null, { a: 2 }, null],
        ],
      );
    });

    test("an update to a text another memory of the scope has is a conflict; nothing changes", async () => {
      const t = await tenant();
      const { results } = await store.insertMemories(t, projectOf(t), [
        draft("Likes tea", axis(0)),
        draft("Plays chess", axis(1)),
      ]);
      const id = results[1]?.id as string;
      const patch = {
        memory: "likes TEA",
        contentHash: contentHash("likes TEA"),
        embedding: axis(0),
      };
      await assert.rejects(store.updateMemory(t, projectOf(t), id, patch), (err: unknown) => {
        assert.ok(err instanceof AppError, String(err));
        assert.deepEqual([err.code, err.field], ["conflict", "text"]);
        return true;
      });
      assert.equal((await store.getMemory(t, projectOf(t), id))?.memory, "Plays chess");
      assert.equal((await store.getHistory(t, projectOf(t), id)).length, 1);
    });

    test("bulk delete removes exactly the scope", async () => {
      const t = await tenant();
      await store.insertMemories(t, projectOf(t), [
        draft("a", axis(0), { userId: "u1", sessionId: "s1" }),
        draft("b", axis(1), { userId: "u1", sessionId: "s2" }),
        draft("c", axis(2), { userId: "u2", sessionId: "s1" }),
      ]);
      assert.equal(
        await store.deleteMemories(t, projectOf(t), { scope: { userId: "u1", sessionId: "s1" } }),
        1,
      );
      assert.equal((await store.listMemories(t, {}, 10, undefined)).rows.length, 2);
    });

    test("hybrid search fuses vector and keyword ranks; modes restrict to one side", async () => {
      const t = await tenant();
      await store.insertMemories(t, projectOf(t), [
        draft("the cat sat on the mat", axis(0)),
        draft("quarterly revenue report", axis(1)),
        draft("a dog in the park", axis(2)),
      ]);
      const base = {
        scope: { projectId: projectOf(t) },
        vector: axis(1),
        keywords: keywordQuery("cat"),
        limit: 3,
      };
      const hybrid = await search(t, { ...base, mode: "hybrid" });
      assert.equal(hybrid.length, 3);
      // "revenue" is nearest by vector, "cat" is the only keyword hit: both rank above the dog.
      assert.deepEqual(
        new Set(hybrid.slice(0, 2).map((h) => h.memory)),
        new Set(["quarterly revenue report", "the cat sat on the mat"]),
      );
      assert.ok(hybrid.every((h) => h.score > 0 && h.score <= 1));
      assert.equal(hybrid.find((h) => h.memory.includes("dog"))?.scores.keyword, null);
      const vector = await search(t, { ...base, mode: "vector" });
      assert.equal(vector[0]?.memory, "quarterly revenue report");
      assert.ok(Math.abs((vector[0]?.scores.vector ?? 0) - 1) < 1e-6);
      const keyword = await search(t, { ...base, mode: "keyword" });
      assert.deepEqual(
        keyword.map((h) => h.memory),
        ["the cat sat on the mat"],
      );
      const thresholded = await search(t, { ...base, mode: "hybrid", threshold: 0.9 });
      assert.deepEqual(
        thresholded.map((h) => h.memory),
        ["quarterly revenue report"],
      );
    });

    test("search applies scope and metadata filters", async () => {
      const t = await tenant();
      await store.insertMemories(t, projectOf(t), [
        draft("red apple", axis(0), { userId: "u1", metadata: { kind: "fruit", n: 1 } }),
        draft("green apple", axis(0, 0.1), { userId: "u1", metadata: { kind: "fruit", n: 5 } }),
        draft("apple laptop", axis(0, 0.2), { userId: "u2", metadata: { kind: "tech" } }),
      ]);
      const hits = await search(t, {
        scope: { projectId: projectOf(t), userId: "u1" },
        filter: { kind: "fruit", n: { gt: 2 } },
        vector: axis(0),
        keywords: keywordQuery("apple"),
        limit: 10,
        mode: "hybrid",
      });
      assert.deepEqual(
        hits.map((h) => h.memory),
        ["green apple"],
      );
    });

    test("tenants never see each other's memories", async () => {
      const [a, b] = [await tenant(), await tenant()];
      const [m] = (await store.insertMemories(a, projectOf(a), [draft("secret of A", axis(0))]))
        .results;
      assert.equal(await store.getMemory(b, projectOf(b), m?.id as string), undefined);
      assert.equal((await store.listMemories(b, {}, 10, undefined)).rows.length, 0);
      const hits = await search(b, {
        scope: { projectId: projectOf(b) },
        vector: axis(0),
        keywords: keywordQuery("secret"),
        limit: 10,
        mode: "hybrid",
      });
      assert.equal(hits.length, 0);
      assert.equal(await store.deleteMemories(b, projectOf(b), { id: m?.id as string }), 0);
      assert.ok(await store.getMemory(a, projectOf(a), m?.id as string));
    });
  });
}
