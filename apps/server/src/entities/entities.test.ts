import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Entity } from "@engram/sdk";
import { said } from "../testing/memory-fixtures.ts";
import {
  clientFor,
  describeOnBackends,
  expectProblem,
  expectUnauthenticated,
  keyWith,
  sorted,
  type Tenant,
  tenant,
} from "../testing/route-suite.ts";

// /v1/entities end to end on each backend: linking on every kind of add, the lists and their
// filters, an entity's memories and relations, deletes, and isolation between tenants, projects
// and end users. Asynchronous adds and documents are processed in the API process here.

async function entities(t: Tenant, query: Parameters<Tenant["client"]["listEntities"]>[0] = {}) {
  const all: Entity[] = [];
  for await (const e of t.client.listAllEntities({ limit: 100, ...query })) all.push(e);
  return all;
}
const labels = (list: readonly Entity[]) => sorted(list.map((e) => `${e.type}:${e.name}`));
const named = (list: readonly Entity[], name: string) => list.find((e) => e.name === name);

describeOnBackends(
  "entity routes",
  () => {
    describe("linking", () => {
      test("a verbatim add links each message's entities, typed, owned by its user", async () => {
        const t = await tenant();
        const added = await t.client.addMemory({
          messages: [
            said(
              "Caroline",
              "I ran the Boston Marathon with my sister Anna yesterday!",
              "2023-05-08T10:00:00Z",
            ),
            said("Melanie", "Wow Caroline, I know Dr. Okafor in Seattle.", "2023-05-08T10:01:00Z"),
          ],
          user_id: "u1",
        });
        const list = await entities(t, { user_id: "u1" });
        assert.deepEqual(labels(list), [
          "date:2023-05-07",
          "event:Boston Marathon",
          "person:Anna",
          "person:Caroline",
          "person:Dr. Okafor",
          "person:Melanie",
          "place:Seattle",
        ]);
        for (const e of list) assert.equal(e.user_id, "u1", e.name);
        assert.deepEqual(named(list, "2023-05-07")?.aliases, ["7 May 2023"]);
        assert.deepEqual(named(list, "Dr. Okafor")?.aliases, ["Okafor"]);
        // Caroline said the first message (in the first person) and is named in the second.
        assert.equal(named(list, "Caroline")?.memory_count, 2);
        assert.equal(named(list, "Melanie")?.memory_count, 1);

        const anna = await t.client.getEntity(named(list, "Anna")?.id as string);
        assert.equal(anna.type, "person");
        assert.equal(anna.memory_count, 1);
        assert.deepEqual(
          anna.memories.map((m) => m.id),
          [added.results[0]?.id],
        );
        assert.deepEqual(anna.relations, []);
        assert.equal(anna.chunk_count, 0);

        assert.deepEqual(labels(await entities(t, { type: "person", q: "okaf" })), [
          "person:Dr. Okafor",
        ]);
        assert.deepEqual(labels(await entities(t, { q: "7 MAY" })), ["date:2023-05-07"], "alias");
        assert.deepEqual(labels(await entities(t, { type: "product" })), []);
      });

      test("batch adds link every memory; lists page newest first, each entity once", async () => {
        const t = await tenant();
        const cities = ["Paris", "Rome", "Lima", "Hanoi", "Quito"];
        await t.client.batchAddMemories({
          memories: cities.map((c) => ({ text: `We flew to ${c}.`, user_id: "u1" })),
        });
        const first = await t.client.listEntities({ limit: 2 });
        assert.equal(first.results.length, 2);
        assert.ok(first.next_cursor);
        const all = await entities(t, { limit: 2 });
        assert.deepEqual(sorted(all.map((e) => e.name)), sorted(cities));
        assert.ok(all.every((e) => e.type === "place"));
        const ids = all.map((e) => e.id);
        assert.deepEqual(ids, [...ids].sort().reverse(), "newest first");
        await expectProblem(
          t.client.listEntities({ cursor: "bm90LWFuLWlk" }),
          400,
          "validation_failed",
          "cursor",
        );
        // A cursor of the user list is not one of the entity list, nor the other way round.
        await t.client.addMemory({ text: "x", user_id: "u2" });
        const users = await t.client.listEntities({ type: "user", limit: 1 });
        await expectProblem(
          t.client.listEntities({ cursor: users.next_cursor as string }),
          400,
          "validation_failed",
          "cursor",
        );
        await expectProblem(
          t.client.listEntities({ type: "agent", cursor: first.next_cursor as string }),
          400,
          "validation_failed",
          "cursor",
        );
      });

      test("inferred adds link their facts; a move closes the old lives_in relation", async () => {
        const t = await tenant();
        await t.client.addMemory({
          messages: [said("Alice", "I live in Berlin.", "2026-01-10T09:00:00Z")],
          user_id: "alice",
          infer: true,
        });
        const moved = await t.client.addMemory({
          messages: [said("Alice", "I moved to Lisbon last month.", "2026-03-05T12:00:00Z")],
          user_id: "alice",
          infer: true,
        });
        assert.equal(moved.results[0]?.event, "UPDATE", JSON.stringify(moved));
        const lisbonMemory = await t.client.getMemory(moved.results[0]?.id as string);
        const list = await entities(t, { user_id: "alice" });
        assert.deepEqual(labels(list), [
          "date:2026-02",
          "person:Alice",
          "place:Berlin",
          "place:Lisbon",
        ]);
        const alice = await t.client.getEntity(named(list, "Alice")?.id as string);
        assert.deepEqual(
          alice.relations.map((r) => [
            r.subject.name,
            r.predicate,
            r.object.name,
            r.valid_from,
            r.valid_to,
          ]),
          [
            ["Alice", "lives_in", "Lisbon", lisbonMemory.valid_from, null],
            ["Alice", "lives_in", "Berlin", "2026-01-10T09:00:00.000Z", lisbonMemory.valid_from],
          ],
        );
        const berlin = await t.client.getEntity(named(list, "Berlin")?.id as string);
        assert.equal(berlin.memory_count, 0, "its memory is superseded");
        assert.equal(berlin.relations.length, 1);
        assert.equal(berlin.relations[0]?.memory_id, moved.results[0]?.supersedes);
      });

      test("asynchronous adds are linked by the worker", async () => {
        const t = await tenant();
        const accepted = await t.client.addMemoryAsync({
          text: "Tomorrow I fly to Nairobi with Wanjiru.",
          user_id: "u1",
          timestamp: "2025-06-01T08:00:00Z",
        });
        const event = await t.client.waitForEvent(accepted.event_id, { timeoutMs: 30_000 });
        assert.equal(event.status, "succeeded", JSON.stringify(event));
        assert.deepEqual(labels(await entities(t)), [
          "date:2025-06-02",
          "person:Wanjiru",
          "place:Nairobi",
        ]);
      });

      test("a text update replaces links; a deleted memory leaves no entity only it named", async () => {
        const t = await tenant();
        const kept = await t.client.addMemory({ text: "Dr. Smith is kind.", user_id: "u1" });
        const r = await t.client.addMemory({ text: "I met Dr. Smith in Oslo.", user_id: "u1" });
        const id = r.results[0]?.id as string;
        await t.client.updateMemory(id, { text: "I met Dr. Smith in Bergen." });
        assert.deepEqual(labels(await entities(t)), ["person:Dr. Smith", "place:Bergen"]);
        await t.client.deleteMemory(id);
        assert.deepEqual(labels(await entities(t)), ["person:Dr. Smith"]);
        await t.client.deleteMemories({ user_id: "u1" });
        assert.deepEqual(await entities(t), []);
        assert.ok(kept.results[0]?.id);
      });

      test("knowledge chunks link entities of the document's owner (shared without one)", async () => {
        const t = await tenant();
        const doc = await t.client.knowledge.createDocument({
          filename: "team.md",
          text: "# Team\n\nProf. Ada Byrne leads research at Initech Ltd in Reykjavik.",
        });
        const job = await t.client.knowledge.waitForJob(doc.job_id, { timeoutMs: 60_000 });
        assert.equal(job.state, "completed", JSON.stringify(job));
        const list = await entities(t, { user_id: "anyone" });
        assert.deepEqual(labels(list), [
          "organization:Initech Ltd",
          "person:Prof. Ada Byrne",
          "place:Reykjavik",
        ]);
        assert.ok(list.every((e) => e.user_id === null && e.memory_count === 0));
        const initech = await t.client.getEntity(named(list, "Initech Ltd")?.id as string);
        assert.equal(initech.chunk_count, 1);
        assert.deepEqual(initech.aliases, ["Initech"]);

        const owned = await t.client.knowledge.createDocument({
          filename: "mine.md",
          text: "We stayed in Valparaiso.",
          user_id: "u7",
        });
        await t.client.knowledge.waitForJob(owned.job_id, { timeoutMs: 60_000 });
        assert.equal(named(await entities(t, { user_id: "u7" }), "Valparaiso")?.user_id, "u7");
        assert.equal(named(await entities(t, { user_id: "u8" }), "Valparaiso"), undefined);

        await t.client.knowledge.deleteDocument(doc.document_id);
        assert.deepEqual(labels(await entities(t)), ["place:Valparaiso"]);
      });
    });

    describe("DELETE /v1/entities/{id}", () => {
      test("removes a named entity with its links and relations; the memories stay; audited", async () => {
        const t = await tenant();
        const r = await t.client.addMemory({
          messages: [said("Bo", "I work at Initech.", "2025-01-01T00:00:00Z")],
          user_id: "bo",
          infer: true,
        });
        const list = await entities(t);
        const initech = named(list, "Initech");
        assert.equal(initech?.type, "organization");
        const receipt = await t.client.deleteEntity(initech?.id as string);
        assert.deepEqual(receipt, {
          id: initech?.id,
          deleted: true,
          memories: 0,
          memory_links: 1,
          chunk_links: 0,
          relations: 1,
        });
        await expectProblem(t.client.getEntity(initech?.id as string), 404, "not_found");
        await expectProblem(t.client.deleteEntity(initech?.id as string), 404, "not_found");
        assert.ok(await t.client.getMemory(r.results[0]?.id as string));
        assert.deepEqual((await t.client.getEntity(named(list, "Bo")?.id as string)).relations, []);
        const audit = await t.client.listAudit();
        const entry = audit.results.find((e) => e.action === "entity.delete");
        assert.equal(entry?.target_id, initech?.id);
      });
    });

    describe("users, agents and sessions", () => {
      test("are listed with their memory counts, read and (agents, sessions) deleted as entities", async () => {
        const t = await tenant();
        await t.client.batchAddMemories({
          memories: [
            { text: "one", user_id: "u1", agent_id: "a1", session_id: "s1" },
            { text: "two", user_id: "u1", agent_id: "a2", session_id: "s2" },
            { text: "three", user_id: "u2", agent_id: "a1" },
            { text: "four", agent_id: "a1" },
          ],
        });
        const users = await entities(t, { type: "user" });
        assert.deepEqual(
          users.map((u) => [u.id, u.type, u.name, u.user_id, u.memory_count]),
          [
            ["user:u1", "user", "u1", "u1", 2],
            ["user:u2", "user", "u2", "u2", 1],
          ],
        );
        const page = await t.client.listEntities({ type: "user", limit: 1 });
        assert.deepEqual(
          page.results.map((u) => u.id),
          ["user:u1"],
        );
        const next = await t.client.listEntities({
          type: "user",
          limit: 1,
          cursor: page.next_cursor as string,
        });
        assert.deepEqual(
          next.results.map((u) => u.id),
          ["user:u2"],
        );
        assert.equal(next.next_cursor, null);
        assert.deepEqual(
          (await entities(t, { type: "agent" })).map((a) => [a.id, a.memory_count]),
          [
            ["agent:a1", 3],
            ["agent:a2", 1],
          ],
        );
        assert.deepEqual(
          (await entities(t, { type: "agent", user_id: "u2" })).map((a) => a.id),
          ["agent:a1"],
        );
        assert.deepEqual(
          (await entities(t, { type: "session", q: "S2" })).map((s) => s.id),
          ["session:s2"],
        );

        const u1 = await t.client.getEntity("user:u1", { memory_limit: 1 });
        assert.equal(u1.memory_count, 2);
        assert.equal(u1.memories.length, 1);
        assert.equal(u1.memories[0]?.memory, "two");
        await expectProblem(t.client.getEntity("user:nobody"), 404, "not_found");

        const gone = await t.client.deleteEntity("agent:a1");
        assert.equal(gone.memories, 3);
        assert.deepEqual(
          (await entities(t, { type: "agent" })).map((a) => a.id),
          ["agent:a2"],
        );
        assert.equal((await t.client.listMemories()).results.length, 1);
        await expectProblem(t.client.deleteEntity("session:none"), 404, "not_found");
        const refused = await expectProblem(
          t.client.deleteEntity("user:u1"),
          400,
          "validation_failed",
          "id",
        );
        assert.match(refused.detail ?? "", /DELETE \/v1\/users\/\{user_id\}/);
        assert.equal((await t.client.listMemories({ user_id: "u1" })).results.length, 1);
      });
    });

    describe("isolation", () => {
      test("a user's entities are never listed or matched for another user", async () => {
        const t = await tenant();
        await t.client.addMemory({ text: "I saw Dr. Lee in Kyoto.", user_id: "alice" });
        await t.client.addMemory({ text: "I saw Dr. Lee in Osaka.", user_id: "bob" });
        const bob = await entities(t, { user_id: "bob" });
        assert.deepEqual(labels(bob), ["person:Dr. Lee", "place:Osaka"]);
        assert.ok(bob.every((e) => e.user_id === "bob"));
        assert.deepEqual(labels(await entities(t, { user_id: "carol" })), []);
        assert.equal((await entities(t, { q: "lee" })).length, 2, "one per user");
      });

      test("another tenant's or another project's entity is 404; their lists are their own", async () => {
        const t = await tenant();
        const other = await tenant();
        await t.client.addMemory({ text: "We met in Tallinn.", user_id: "u1" });
        const [tallinn] = await entities(t);
        const id = tallinn?.id as string;
        await expectProblem(other.client.getEntity(id), 404, "not_found");
        await expectProblem(other.client.deleteEntity(id), 404, "not_found");
        assert.deepEqual(await entities(other), []);
        await expectProblem(other.client.getEntity("user:u1"), 404, "not_found");

        const project = await t.client.createProject({ name: "second" });
        const second = clientFor((await t.client.createKey({ project_id: project.id })).key);
        await expectProblem(second.getEntity(id), 404, "not_found");
        await expectProblem(second.deleteEntity(id), 404, "not_found");
        assert.deepEqual((await second.listEntities()).results, []);
        await expectProblem(second.getEntity("user:u1"), 404, "not_found");
        assert.equal((await t.client.getEntity(id)).name, "Tallinn", "still there for its own key");
      });
    });

    describe("bad input and scopes", () => {
      test("bad queries and ids are 4xx naming the field; unknown ids are 404", async () => {
        const t = await tenant();
        const bad = (query: Record<string, unknown>, field: string) =>
          expectProblem(
            t.client.listEntities(query as Parameters<typeof t.client.listEntities>[0]),
            400,
            "validation_failed",
            field,
          );
        await bad({ type: "city" }, "type");
        await bad({ limit: 0 }, "limit");
        await bad({ limit: 101 }, "limit");
        await bad({ q: "!!!" }, "q");
        await bad({ q: "x".repeat(201) }, "q");
        await bad({ user_id: "u".repeat(129) }, "user_id");
        await bad({ colour: "red" }, "colour");
        await expectProblem(
          t.client.getEntity("user:u1", { memory_limit: 101 }),
          400,
          "validation_failed",
          "memory_limit",
        );
        for (const id of [
          "nope",
          "ent_123",
          "mem_01ARZ3NDEKTSV4RRFFQ69G5FAV",
          "robot:x",
          "user:",
        ]) {
          await expectProblem(t.client.getEntity(id), 404, "not_found");
          await expectProblem(t.client.deleteEntity(id), 404, "not_found");
        }
        await expectProblem(t.client.getEntity("x".repeat(201)), 400, "validation_failed", "id");
        await expectProblem(t.client.getEntity("x".repeat(3_000)), 400, "validation_failed");
        // A scope id of the longest length, with characters that are percent-encoded on the way.
        const long = `é${"u".repeat(127)}`;
        await t.client.addMemory({ text: "hello", user_id: long });
        assert.equal((await t.client.getEntity(`user:${long}`)).user_id, long);
      });

      test("reading needs memories:read, deleting memories:write; no key is 401", async () => {
        const t = await tenant();
        await t.client.addMemory({ text: "We met in Tallinn.", user_id: "u1" });
        const [tallinn] = await entities(t);
        const writer = await keyWith(t, ["memories:write"]);
        const reader = await keyWith(t, ["memories:read"]);
        await expectProblem(writer.listEntities(), 403, "forbidden");
        await expectProblem(writer.getEntity(tallinn?.id as string), 403, "forbidden");
        await expectProblem(reader.deleteEntity(tallinn?.id as string), 403, "forbidden");
        await expectProblem(reader.deleteEntity("agent:a1"), 403, "forbidden");
        assert.equal((await reader.listEntities()).results.length, 1);
        await expectUnauthenticated("GET", "/v1/entities");
        await expectUnauthenticated("GET", `/v1/entities/${tallinn?.id}`);
        await expectUnauthenticated("DELETE", `/v1/entities/${tallinn?.id}`);
      });
    });
  },
  { ENGRAM_INGEST_IN_PROCESS: "on", ENGRAM_INGEST_POLL_INTERVAL_MS: "500" },
);
