import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Database } from "../db/database.ts";
import type { EntityMention, Extraction } from "../inference/engine.ts";
import { createInferenceStore } from "../memories/inference-store.ts";
import { createMemoryStore } from "../memories/memory-store.ts";
import {
  axis,
  draftMemory,
  projectOf,
  seedTenant,
  TEST_MODEL,
  testDatabases,
} from "../testing/test-databases.ts";
import { createEntityStore, findQueryEntities } from "./entity-store.ts";

// Entity linking in the memory writes' transactions, the ranking's query lookup, relations and
// their validity through supersession, and what deletes leave behind: the stores on each backend.

const mentions = (
  entities: [EntityMention["type"], string, string[]?][],
  relations: Extraction["relations"] = [],
): Extraction => ({
  entities: entities.map(([type, name, aliases]) => ({ type, name, aliases: aliases ?? [] })),
  relations,
});

for (const backend of testDatabases) {
  describe(`entity store on ${backend.name}`, () => {
    let db: Database;
    let memories: ReturnType<typeof createMemoryStore>;
    let entities: ReturnType<typeof createEntityStore>;

    before(async () => {
      db = await backend.open();
      memories = createMemoryStore(db, TEST_MODEL);
      entities = createEntityStore(db);
    });
    after(() => db.close());

    /** Adds one memory with these mentions; its id. */
    async function add(t: string, text: string, extraction: Extraction, userId: string | null) {
      const r = await memories.insertMemories(t, projectOf(t), [
        draftMemory(text, axis(text.length), { userId, entities: extraction }),
      ]);
      return r.results[0]?.id as string;
    }
    const all = async (t: string, filter: Parameters<typeof entities.listEntities>[2] = {}) =>
      (await entities.listEntities(t, projectOf(t), filter, 100, undefined)).rows;
    const named = (rows: { name: string; type: string; user_id: string | null }[]) =>
      rows.map((e) => `${e.user_id ?? "-"}/${e.type}/${e.name}`).sort();

    test("mentions become entities per user (shared without one); `other` joins and is upgraded by a type", async () => {
      const t = await seedTenant(db);
      await add(
        t,
        "m1",
        mentions([
          ["person", "Dr. Smith", ["Smith"]],
          ["other", "Berlin"],
        ]),
        "u1",
      );
      await add(t, "m2", mentions([["place", "Berlin"]]), "u1");
      await add(
        t,
        "m3",
        mentions([
          ["other", "Dr Smith"],
          ["other", "BERLIN"],
        ]),
        "u1",
      );
      await add(t, "m4", mentions([["person", "Dr. Smith"]]), "u2");
      await add(t, "m5", mentions([["place", "Berlin"]]), null);
      assert.deepEqual(named(await all(t)), [
        "-/place/Berlin",
        "u1/person/Dr. Smith",
        "u1/place/Berlin",
        "u2/person/Dr. Smith",
      ]);
      const mine = await all(t, { userId: "u1" });
      assert.deepEqual(named(mine), ["-/place/Berlin", "u1/person/Dr. Smith", "u1/place/Berlin"]);
      const counts = Object.fromEntries(mine.map((e) => [named([e])[0], e.memory_count]));
      assert.deepEqual(counts, {
        "-/place/Berlin": 1,
        "u1/person/Dr. Smith": 2,
        "u1/place/Berlin": 3,
      });
      assert.deepEqual(named(await all(t, { type: "person" })), [
        "u1/person/Dr. Smith",
        "u2/person/Dr. Smith",
      ]);
      // q matches a part of the name or of an alias, any case.
      assert.deepEqual(named(await all(t, { q: "mith", userId: "u1" })), ["u1/person/Dr. Smith"]);
    });

    test("the same name with two types stays two entities; aliases merge, each name once", async () => {
      const t = await seedTenant(db);
      await add(t, "a", mentions([["organization", "Apple Inc.", ["Apple"]]]), "u1");
      await add(
        t,
        "b",
        mentions([
          ["product", "Apple"],
          ["organization", "apple inc", ["AAPL", "apple"]],
        ]),
        "u1",
      );
      const rows = await all(t);
      assert.deepEqual(named(rows), ["u1/organization/Apple Inc.", "u1/product/Apple"]);
      const org = rows.find((e) => e.type === "organization");
      assert.deepEqual(org?.aliases, ["Apple", "AAPL"]);
    });

    test("findQueryEntities: a query's names (any case, aliases too) among the scope's entities, by index", async () => {
      const t = await seedTenant(db);
      const other = await seedTenant(db);
      await add(
        t,
        "m1",
        mentions([
          ["person", "Dr. Smith", ["Smith"]],
          ["place", "New York"],
        ]),
        "u1",
      );
      await add(t, "m2", mentions([["person", "Dr. Smith"]]), "u2");
      await add(t, "m3", mentions([["place", "New York"]]), null);
      await add(other, "m4", mentions([["person", "Dr. Smith", ["Smith"]]]), "u1");
      const byName = new Map((await all(t)).map((e) => [`${e.user_id ?? "-"}/${e.name}`, e.id]));
      const find = (
        userId: string | undefined,
        query: string,
        tenant = t,
        projectId = projectOf(t),
      ) =>
        db
          .withTenant(tenant, (tx) => findQueryEntities(tx, tenant, { projectId, userId }, query))
          .then((found) =>
            found
              .filter((e) => e.weight === 1)
              .map((e) => e.id)
              .sort(),
          );
      const ids = (...keys: string[]) => keys.map((k) => byName.get(k) as string).sort();

      assert.deepEqual(
        await find("u1", "what did dr smith say about new york?"),
        ids("u1/Dr. Smith", "u1/New York", "-/New York"),
      );
      assert.deepEqual(await find("u1", "SMITH"), ids("u1/Dr. Smith"), "through its alias");
      assert.deepEqual(await find("u2", "dr. smith"), ids("u2/Dr. Smith"), "never another user's");
      assert.deepEqual(await find("u3", "dr smith in new york"), ids("-/New York"));
      assert.deepEqual(
        await find(undefined, "dr smith"),
        ids("u1/Dr. Smith", "u2/Dr. Smith"),
        "without a user: every user's",
      );
      assert.deepEqual(await find("u1", "nothing named here"), []);
      assert.deepEqual(await find("u1", ""), []);
      assert.deepEqual(await find("u1", "dr smith", t, "prj_elsewhere"), [], "another project");
      assert.deepEqual(
        (await entities.findQueryEntities(t, { projectId: projectOf(t), userId: "u1" }, "Smith"))
          .length,
        1,
      );
      // Another tenant's store call sees only its own.
      assert.equal((await find("u1", "smith", other, projectOf(other))).length, 1);
      assert.ok(
        !(await find("u1", "smith", other, projectOf(other))).includes(
          ids("u1/Dr. Smith")[0] as string,
        ),
      );

      // The lookup is an index scan as the application role under row-level security.
      const plan = await db.withTenant(t, async (tx) => {
        await tx.query("SET LOCAL enable_seqscan = off");
        return tx.query<Record<string, string>>(
          `EXPLAIN SELECT DISTINCT entity_id FROM entity_names
           WHERE tenant_id = '${t}' AND project_id = '${projectOf(t)}'
             AND name = ANY('{dr smith,smith}'::text[]) AND owner = ANY('{"",u1}'::text[])`,
        );
      });
      const text = plan.map((r) => Object.values(r)[0]).join("\n");
      assert.match(text, /Index (Only )?Scan using entity_names_pkey/, text);
      assert.doesNotMatch(text, /Seq Scan/, text);
    });

    test("linking finds a mention's entities through the name index", async () => {
      const t = await seedTenant(db);
      const plan = await db.withTenant(t, async (tx) => {
        await tx.query("SET LOCAL enable_seqscan = off");
        return tx.query<Record<string, string>>(
          `EXPLAIN SELECT e.id FROM unnest('{u1}'::text[], '{berlin}'::text[]) AS d(owner, normalized)
           JOIN entities e ON e.tenant_id = '${t}' AND e.project_id = '${projectOf(t)}'
            AND e.normalized = d.normalized AND coalesce(e.user_id, '') = d.owner`,
        );
      });
      const text = plan.map((r) => Object.values(r)[0]).join("\n");
      assert.match(text, /Index Scan using entities_name/, text);
    });

    test("findQueryEntities: one current relation away, either direction, carrying the name that reached it", async () => {
      const t = await seedTenant(db);
      const p = projectOf(t);
      const inference = createInferenceStore(db, TEST_MODEL);
      const fact = (text: string, place: string) =>
        draftMemory(text, axis(text.length), {
          userId: "alice",
          entities: mentions(
            [
              ["person", "Alice"],
              ["place", place],
            ],
            [{ subject: 0, predicate: "lives_in", object: 1 }],
          ),
        });
      const base = { sources: [], reason: "test", engine: "local" as const };
      const berlin = fact("Alice lives in Berlin.", "Berlin");
      await inference.apply(t, p, [], [{ ...base, kind: "add", row: berlin }], {
        inference: undefined,
      });
      // Berlin's relation is closed by the move: only Lisbon is a current relation away.
      const lisbon = fact("Alice moved to Lisbon.", "Lisbon");
      await inference.apply(
        t,
        p,
        [],
        [{ ...base, kind: "supersede", row: lisbon, targetId: berlin.id }],
        { inference: undefined },
      );
      const nameOf = new Map((await all(t)).map((e) => [e.id, e.name]));
      const found = async (query: string) =>
        (await entities.findQueryEntities(t, { projectId: p, userId: "alice" }, query))
          .map((e) => `${nameOf.get(e.id)} ${e.weight} ${e.matched}`)
          .sort();
      assert.deepEqual(await found("where does alice live"), ["Alice 1 alice", "Lisbon 0.5 alice"]);
      assert.deepEqual(await found("who lives in lisbon"), ["Alice 0.5 lisbon", "Lisbon 1 lisbon"]);
      assert.deepEqual(
        await found("alice in lisbon"),
        ["Alice 1 alice", "Lisbon 1 lisbon"],
        "named ones are not listed again as a hop",
      );
      assert.deepEqual(await found("berlin"), ["Berlin 1 berlin"], "a closed relation is no hop");
    });

    test("a relation is valid from its memory; supersession and invalidation close it at the same instant", async () => {
      const t = await seedTenant(db);
      const p = projectOf(t);
      const inference = createInferenceStore(db, TEST_MODEL);
      const scope = { projectId: p, userId: "alice" };
      const fact = (text: string, place: string, validFrom: string) =>
        draftMemory(text, axis(text.length), {
          userId: "alice",
          validFrom,
          entities: mentions(
            [
              ["person", "Alice"],
              ["place", place],
            ],
            [{ subject: 0, predicate: "lives_in", object: 1 }],
          ),
        });
      const base = { sources: [], reason: "test", engine: "local" as const };
      const berlin = fact("Alice lives in Berlin.", "Berlin", "2024-01-01T00:00:00.000Z");
      await inference.apply(t, p, [scope], [{ ...base, kind: "add", row: berlin }], {
        inference: undefined,
      });
      const lisbon = fact("Alice moved to Lisbon.", "Lisbon", "2026-10-01T00:00:00.000Z");
      await inference.apply(
        t,
        p,
        [scope],
        [{ ...base, kind: "supersede", row: lisbon, targetId: berlin.id }],
        { inference: undefined },
      );
      const alice = (await all(t)).find((e) => e.name === "Alice");
      const detail = await entities.getEntity(t, p, alice?.id as string, 20);
      const validity = (d: typeof detail) =>
        (d?.relations ?? []).map((r) => [
          r.object.name,
          r.predicate,
          r.valid_from,
          r.valid_to,
          r.memory_id,
        ]);
      assert.deepEqual(validity(detail), [
        ["Lisbon", "lives_in", "2026-10-01T00:00:00.000Z", null, lisbon.id],
        ["Berlin", "lives_in", "2024-01-01T00:00:00.000Z", "2026-10-01T00:00:00.000Z", berlin.id],
      ]);
      // The superseded memory is not among the person's current memories any more.
      assert.deepEqual(
        detail?.memories.map((m) => m.id),
        [lisbon.id],
      );
      assert.equal(detail?.memory_count, 1);

      await inference.apply(
        t,
        p,
        [scope],
        [{ ...base, kind: "invalidate", targetId: lisbon.id, validTo: "2027-03-01T00:00:00.000Z" }],
        { inference: undefined },
      );
      const closed = await entities.getEntity(t, p, alice?.id as string, 20);
      assert.equal(closed?.relations[0]?.valid_to, "2027-03-01T00:00:00.000Z");
      assert.equal(closed?.memory_count, 0);

      // A fact superseded by a later one of the same request: its relation is written closed.
      const bob = { projectId: p, userId: "bob" };
      const home = (text: string, place: string, validFrom: string) => ({
        ...fact(text, place, validFrom),
        userId: "bob",
        entities: mentions(
          [
            ["person", "Bob"],
            ["place", place],
          ],
          [{ subject: 0, predicate: "lives_in", object: 1 }],
        ),
      });
      const oslo = home("Bob lived in Oslo.", "Oslo", "2020-01-01T00:00:00.000Z");
      const rome = home("Bob moved to Rome.", "Rome", "2022-01-01T00:00:00.000Z");
      await inference.apply(
        t,
        p,
        [bob],
        [
          { ...base, kind: "add", row: oslo },
          { ...base, kind: "supersede", row: rome, targetId: oslo.id },
        ],
        { inference: undefined },
      );
      const bobId = (await all(t)).find((e) => e.name === "Bob")?.id as string;
      assert.deepEqual(validity(await entities.getEntity(t, p, bobId, 20)), [
        ["Rome", "lives_in", "2022-01-01T00:00:00.000Z", null, rome.id],
        ["Oslo", "lives_in", "2020-01-01T00:00:00.000Z", "2022-01-01T00:00:00.000Z", oslo.id],
      ]);
    });

    test("a new text replaces its links; deleting memories deletes the entities nothing else names", async () => {
      const t = await seedTenant(db);
      const p = projectOf(t);
      const m1 = await add(
        t,
        "m1",
        mentions([
          ["place", "Oslo"],
          ["person", "Kari"],
        ]),
        "u1",
      );
      await add(t, "m2", mentions([["person", "Kari"]]), "u1");
      await memories.updateMemory(t, p, m1, {
        memory: "m1 again",
        entities: mentions([["place", "Bergen"]]),
      });
      assert.deepEqual(named(await all(t)), ["u1/person/Kari", "u1/place/Bergen"], "Oslo went");
      assert.equal((await all(t)).find((e) => e.name === "Kari")?.memory_count, 1);

      await memories.deleteMemories(t, p, { id: m1 });
      assert.deepEqual(named(await all(t)), ["u1/person/Kari"], "Bergen went with its memory");
      await memories.deleteMemories(t, p, { scope: { projectId: p, userId: "u1" } });
      assert.deepEqual(await all(t), []);
      const left = await db.withTenant(t, (tx) =>
        tx.query<{ n: number }>(
          `SELECT (SELECT count(*) FROM entity_names)::int + (SELECT count(*) FROM memory_entities)::int
                  + (SELECT count(*) FROM entity_relations)::int AS n`,
        ),
      );
      assert.equal(left[0]?.n, 0);
    });

    test("deleting an entity removes its links, names and relations, never the memories", async () => {
      const t = await seedTenant(db);
      const p = projectOf(t);
      const id = await add(
        t,
        "Nadia lives in Cairo.",
        mentions(
          [
            ["person", "Nadia"],
            ["place", "Cairo"],
          ],
          [{ subject: 0, predicate: "lives_in", object: 1 }],
        ),
        "u1",
      );
      const cairo = (await all(t)).find((e) => e.name === "Cairo");
      const removed = await entities.deleteEntity(t, p, cairo?.id as string);
      assert.deepEqual(removed, { memory_links: 1, chunk_links: 0, relations: 1 });
      assert.deepEqual(named(await all(t)), ["u1/person/Nadia"]);
      assert.ok(await memories.getMemory(t, p, id), "the memory stays");
      assert.equal(await entities.deleteEntity(t, p, cairo?.id as string), undefined);
      assert.equal(await entities.getEntity(t, p, cairo?.id as string, 5), undefined);
      // Another project's or tenant's call does not find it.
      const nadia = (await all(t))[0]?.id as string;
      assert.equal(await entities.getEntity(t, "prj_elsewhere", nadia, 5), undefined);
      const other = await seedTenant(db);
      assert.equal(await entities.getEntity(other, projectOf(other), nadia, 5), undefined);
      assert.equal(await entities.deleteEntity(other, projectOf(other), nadia), undefined);
      assert.ok(await entities.getEntity(t, p, nadia, 5));
    });
  });
}
