import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Database } from "../db/database.ts";
import { newId } from "../lib/ids.ts";
import { idf } from "../search/keyword-plan.ts";
import { keywordQuery } from "../search/query-text.ts";
import {
  axis,
  draftMemory,
  migrationBackends,
  projectOf,
  seedTenant,
  TEST_MODEL,
  testDatabases,
} from "../testing/test-databases.ts";
import { contentHash } from "./content-hash.ts";
import { createMemorySearchStore } from "./memory-search-store.ts";
import { createMemoryStore, type NewMemory } from "./memory-store.ts";

const draft = (text: string, over: Partial<NewMemory> = {}) => draftMemory(text, axis(0), over);

type Counts = Record<string, number>;

/** A project's postings and statistics as stored, and as recomputed from its memories' text. */
async function termState(db: Database, tenantId: string, projectId = projectOf(tenantId)) {
  return db.withTenant(tenantId, async (tx) => {
    const rows = (sql: string) =>
      tx.query<{ lexeme: string; n: number }>(sql, [tenantId, projectId]);
    const toCounts = (r: { lexeme: string; n: number }[]): Counts =>
      Object.fromEntries(r.map((x) => [x.lexeme, Number(x.n)]));
    const stats = toCounts(
      await rows(
        "SELECT lexeme, docs AS n FROM memory_term_stats WHERE tenant_id = $1 AND project_id = $2",
      ),
    );
    const postings = toCounts(
      await rows(
        `SELECT lexeme || ' ' || memory_id AS lexeme, 1 AS n FROM memory_terms
         WHERE tenant_id = $1 AND project_id = $2`,
      ),
    );
    const expectedPostings = toCounts(
      await rows(
        `SELECT l.lexeme || ' ' || m.id AS lexeme, 1 AS n
         FROM memories m, unnest(tsvector_to_array(m.fts)) AS l(lexeme)
         WHERE m.tenant_id = $1 AND m.project_id = $2`,
      ),
    );
    const expectedStats = toCounts(
      await rows(
        `SELECT l.lexeme, count(*)::int AS n
         FROM memories m, unnest(tsvector_to_array(m.fts)) AS l(lexeme)
         WHERE m.tenant_id = $1 AND m.project_id = $2 GROUP BY l.lexeme
         UNION ALL SELECT '', count(*)::int FROM memories
         WHERE tenant_id = $1 AND project_id = $2 HAVING count(*) > 0`,
      ),
    );
    return { stats, postings, expectedStats, expectedPostings };
  });
}

async function assertConsistent(db: Database, tenantId: string, projectId = projectOf(tenantId)) {
  const s = await termState(db, tenantId, projectId);
  assert.deepEqual(s.postings, s.expectedPostings);
  assert.deepEqual(s.stats, s.expectedStats);
}

for (const backend of testDatabases) {
  describe(`keyword terms on ${backend.name}`, () => {
    let db: Database;
    let store: ReturnType<typeof createMemoryStore>;
    const tenant = async () => await seedTenant(db, "t");

    before(async () => {
      db = await backend.open();
      store = createMemoryStore(db, TEST_MODEL);
    });
    after(() => db.close());

    test("postings and statistics follow every insert, update and delete", async () => {
      const [t, other] = [await tenant(), await tenant()];
      await store.insertMemories(other, projectOf(other), [draft("The cat sat on the mat")]);
      const first = await store.insertMemories(t, projectOf(t), [
        draft("The cat sat on the mat"),
        draft("Cats chase mice", { userId: "u2" }),
        draft("the CAT sat on the mat"), // duplicate: NOOP, counted once
      ]);
      await assertConsistent(db, t);
      const s = await termState(db, t);
      assert.equal(s.stats[""], 2);
      assert.equal(s.stats.cat, 2);
      assert.equal(s.stats.mat, 1);

      const id = first.results[0]?.id as string;
      await store.updateMemory(t, projectOf(t), id, { metadata: { k: 1 } });
      await assertConsistent(db, t);
      await store.updateMemory(t, projectOf(t), id, {
        memory: "A dog barked",
        contentHash: contentHash("A dog barked"),
        embedding: axis(1),
      });
      await assertConsistent(db, t);
      const afterUpdate = await termState(db, t);
      assert.equal(afterUpdate.stats.mat, undefined, "a lexeme no memory has any more is dropped");
      assert.equal(afterUpdate.stats.cat, 1);

      await store.deleteMemories(t, projectOf(t), { id });
      await assertConsistent(db, t);
      await store.insertMemories(t, projectOf(t), [
        draft("cat nap"),
        draft("dog nap", { userId: "u2" }),
      ]);
      assert.equal(await store.deleteMemories(t, projectOf(t), { scope: { userId: "u2" } }), 2);
      await assertConsistent(db, t);
      assert.deepEqual((await termState(db, t)).stats, { "": 1, cat: 1, nap: 1 });
      assert.equal(await store.deleteMemories(t, projectOf(t), { scope: { userId: "u1" } }), 1);
      assert.deepEqual((await termState(db, t)).stats, {});
      assert.deepEqual((await termState(db, t)).postings, {});
      // The other tenant's bookkeeping is untouched.
      await assertConsistent(db, other);
      assert.equal((await termState(db, other)).stats[""], 1);
    });

    test("keyword ranking weighs a rare term above a common one (IDF)", async () => {
      const t = await tenant();
      const search = createMemorySearchStore(db, TEST_MODEL);
      await store.insertMemories(t, projectOf(t), [
        draft("Bob adopted a kitten"),
        ...Array.from({ length: 8 }, (_, i) => draft(`Alice went hiking, trip ${i}`)),
      ]);
      for (const scope of [
        { projectId: projectOf(t) },
        { projectId: projectOf(t), userId: "u1" },
      ]) {
        const hits = await search(t, {
          scope,
          vector: axis(2),
          keywords: keywordQuery("Did Alice adopt a kitten?"),
          limit: 3,
          mode: "keyword",
        });
        assert.equal(hits[0]?.memory, "Bob adopted a kitten", JSON.stringify(scope));
        const [kitten, alice] = hits.map((h) => h.scores.keyword as number);
        // "adopt" and "kitten" occur once in nine memories, "alic" in eight of them.
        const expected = 2 * idf(1, 9);
        assert.ok(Math.abs((kitten as number) - expected) < 1e-9, String(kitten));
        assert.ok(Math.abs((alice as number) - idf(8, 9)) < 1e-9, String(alice));
      }
    });

    test("statistics are per project: another project's memories change no score and match no term", async () => {
      const t = await tenant();
      const p1 = projectOf(t);
      const p2 = newId("prj");
      await db.withTenant(t, (tx) =>
        tx.query("INSERT INTO projects (id, tenant_id, name) VALUES ($1, $2, 'second')", [p2, t]),
      );
      const search = createMemorySearchStore(db, TEST_MODEL);
      const kitten = (projectId: string, extra: Record<string, string> = {}) =>
        search(t, {
          scope: { projectId, ...extra },
          vector: axis(2),
          keywords: keywordQuery("kitten"),
          limit: 10,
          mode: "keyword",
        });
      await store.insertMemories(t, p1, [
        draft("Bob adopted a kitten"),
        ...Array.from({ length: 8 }, (_, i) => draft(`Alice went hiking, trip ${i}`)),
      ]);
      const alone = (await kitten(p1))[0]?.scores.keyword;
      assert.ok(Math.abs((alone as number) - idf(1, 9)) < 1e-9, String(alone));

      // Project 2 fills up with kittens and a word project 1 never used.
      await store.insertMemories(
        t,
        p2,
        Array.from({ length: 30 }, (_, i) => draft(`kitten photo ${i} qqqzzz`)),
      );
      await assertConsistent(db, t, p1);
      await assertConsistent(db, t, p2);
      assert.equal((await termState(db, t, p1)).stats[""], 9);
      assert.equal((await termState(db, t, p2)).stats.kitten, 30);
      // Project 1's score is what it was: nothing in it reveals project 2's words.
      const hits = await kitten(p1);
      assert.deepEqual(
        hits.map((h) => [h.memory, h.scores.keyword]),
        [["Bob adopted a kitten", alone]],
      );
      for (const scope of [{}, { userId: "u1" }]) {
        const only2 = await search(t, {
          scope: { projectId: p1, ...scope },
          vector: axis(2),
          keywords: keywordQuery("qqqzzz"),
          limit: 10,
          mode: "keyword",
        });
        assert.deepEqual(only2, [], JSON.stringify(scope));
      }
      // Deleting project 2's memories leaves project 1's bookkeeping as it was.
      assert.equal(await store.deleteMemories(t, p2, { scope: { userId: "u1" } }), 30);
      assert.deepEqual((await termState(db, t, p2)).stats, {});
      await assertConsistent(db, t, p1);
      assert.equal((await termState(db, t, p1)).stats[""], 9);
    });

    test("keyword mode with no query term in the project is an empty result, with or without a filter", async () => {
      const t = await tenant();
      const search = createMemorySearchStore(db, TEST_MODEL);
      const run = (keywords: string, filter?: Record<string, unknown>) =>
        search(t, {
          scope: { projectId: projectOf(t) },
          filter,
          vector: axis(0),
          keywords,
          limit: 10,
          mode: "keyword",
        });
      // An empty project, then one whose memories share no word with the query.
      assert.deepEqual(await run(keywordQuery("qqqzzz")), []);
      await store.insertMemories(t, projectOf(t), [draft("Carol likes tea")]);
      for (const keywords of [keywordQuery("qqqzzz"), keywordQuery("the"), ""]) {
        assert.deepEqual(await run(keywords), [], keywords);
        assert.deepEqual(await run(keywords, { kind: "x" }), [], keywords);
      }
      assert.equal((await run(keywordQuery("tea")))[0]?.memory, "Carol likes tea");
    });

    test("an unscoped search generates candidates from the rarest terms within the budget", async () => {
      const t = await tenant();
      const search = createMemorySearchStore(db, TEST_MODEL, { keywordPostingsBudget: 3 });
      const memories = [
        draft("zebra crossing"),
        ...Array.from({ length: 5 }, (_, i) => draft(`a walk in the park, day ${i}`)),
        draft("a walk with a zebra"),
      ];
      await store.insertMemories(t, projectOf(t), memories);
      const run = (query: string) =>
        search(t, {
          scope: { projectId: projectOf(t) },
          vector: axis(2),
          keywords: keywordQuery(query),
          limit: 10,
          mode: "keyword",
        });
      // "zebra" (2 memories) generates; "walk" (6) would exceed the budget of 3, but still
      // counts in the score of the memories that "zebra" found.
      const zebra = await run("zebra walk");
      assert.deepEqual(
        zebra.map((h) => h.memory),
        ["a walk with a zebra", "zebra crossing"],
      );
      // Every term is past the budget: the newest 3 memories of the rarest term ("park", 5).
      const park = await run("walk in the park");
      assert.deepEqual(
        park.map((h) => h.memory),
        ["a walk in the park, day 2", "a walk in the park, day 3", "a walk in the park, day 4"],
      );
      // A scope is searched whole, whatever the budget.
      const scoped = await search(t, {
        scope: { projectId: projectOf(t), userId: "u1" },
        vector: axis(2),
        keywords: keywordQuery("walk in the park"),
        limit: 10,
        mode: "keyword",
      });
      assert.equal(scoped.length, 6);
    });
  });
}

describe("migrations 0004 and 0005 backfill existing memories", () => {
  for (const backend of migrationBackends) {
    test(backend.name, async () => {
      const { db, applyBefore, applyFrom, close } = await backend.open();
      try {
        await applyBefore("0004");
        const t = newId("ten");
        await db.withTenant(t, async (tx) => {
          await tx.query("INSERT INTO tenants (id, name) VALUES ($1, 't')", [t]);
          await tx.query(
            `INSERT INTO memories (id, tenant_id, memory, content_hash, embedding, embedding_model, embedding_dim)
             SELECT 'mem_' || i, $1, m, sha256(m::bytea), '[1,0,0,0]', 'test-model-4', 4
             FROM unnest(ARRAY['cats purr', 'cats and dogs', 'dogs bark']) WITH ORDINALITY AS x(m, i)`,
            [t],
          );
        });
        await applyFrom("0004");
        await assertConsistent(db, t);
        assert.deepEqual((await termState(db, t)).stats, {
          "": 3,
          cat: 2,
          dog: 2,
          purr: 1,
          bark: 1,
        });
        // 0005: the tenant got a default project holding its memories, and usage gauges.
        const [backfilled] = await db.withTenant(t, (tx) =>
          tx.query<{ in_default: number; active: number; bytes: number }>(
            `SELECT (SELECT count(*)::int FROM memories m JOIN projects p ON p.id = m.project_id
                     WHERE p.is_default) AS in_default,
                    u.active_memories::int AS active, u.storage_bytes::int AS bytes
             FROM tenant_usage u`,
          ),
        );
        assert.equal(backfilled?.in_default, 3);
        assert.equal(backfilled?.active, 3);
        // Each row: its text, metadata '{}' (2 bytes) and a 4-d vector (16 bytes).
        assert.equal(backfilled?.bytes, "cats purr cats and dogs dogs bark".length - 2 + 3 * 18);
      } finally {
        await close();
      }
    });
  }
});
