import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AddMemoryBody } from "@engram/sdk";
import { listAll, said } from "../testing/memory-fixtures.ts";
import { describeOnBackends, expectProblem, tenant } from "../testing/route-suite.ts";

// infer: true with the local engine (the default), end to end through HTTP on each backend:
// extraction, reconciliation (ADD, UPDATE by supersession or enrichment, DELETE, NOOP), history,
// provenance and validity.

describeOnBackends("memory inference", () => {
  describe("POST /v1/memories with infer: true (local engine)", () => {
    test("keeps the statement, drops the greeting, attributes it to the speaker, records provenance", async () => {
      const t = await tenant();
      const res = await t.client.addMemory({
        messages: [said("Alice", "Hi there! I live in Berlin.", "2026-01-10T09:00:00Z", "m-1")],
        user_id: "alice",
        infer: true,
      });
      assert.deepEqual(res.inference, { engine: "local" });
      assert.equal(res.results.length, 1, JSON.stringify(res));
      const [r] = res.results;
      assert.ok(r);
      assert.equal(r.event, "ADD");
      assert.match(r.memory, /Alice/);
      assert.match(r.memory, /Berlin/);
      assert.doesNotMatch(r.memory, /\bHi\b/);
      assert.ok(r.reason);

      const m = await t.client.getMemory(r.id);
      assert.equal(m.user_id, "alice");
      assert.equal(m.valid_from, "2026-01-10T09:00:00.000Z");
      assert.equal(m.valid_to, null);
      assert.deepEqual(m.sources, [{ index: 0, id: "m-1", role: "user", name: "Alice" }]);

      const history = await t.client.getMemoryHistory(r.id);
      assert.equal(history.results.length, 1);
      const [h] = history.results;
      assert.equal(h?.event, "ADD");
      assert.equal(h?.engine, "local");
      assert.ok(h?.reason);
      assert.equal(h?.sources?.[0]?.content, "Hi there! I live in Berlin.");
    });

    test("a move supersedes the old home: UPDATE, validity closed, the old one kept", async () => {
      const t = await tenant();
      const first = await t.client.addMemory({
        messages: [said("Alice", "I live in Berlin.", "2026-01-10T09:00:00Z")],
        user_id: "alice",
        session_id: "s1",
        infer: true,
      });
      const berlin = first.results[0];
      assert.equal(berlin?.event, "ADD");
      // Read once, so the hot-memory cache holds it: the supersession must not leave it stale.
      assert.equal((await t.client.getMemory(berlin?.id as string)).valid_to, null);
      // Another session of the same user: sessions are episodes of one life.
      const moved = await t.client.addMemory({
        messages: [said("Alice", "I moved to Lisbon last month.", "2026-03-05T12:00:00Z")],
        user_id: "alice",
        session_id: "s2",
        infer: true,
      });
      assert.equal(moved.results.length, 1, JSON.stringify(moved));
      const [u] = moved.results;
      assert.ok(u && berlin);
      assert.equal(u.event, "UPDATE");
      assert.equal(u.supersedes, berlin.id);
      assert.equal(u.previous_memory, berlin.memory);
      assert.match(u.memory, /Lisbon/);
      assert.match(u.memory, /February 2026/, "the relative date is resolved in the text");

      const old = await t.client.getMemory(berlin.id);
      assert.equal(old.superseded_by, u.id);
      assert.ok(old.valid_to, "the old memory's validity is closed");
      const current = await t.client.getMemory(u.id);
      assert.equal(current.valid_to, null);
      assert.equal(current.valid_from, "2026-02-01T00:00:00.000Z");
      assert.equal(old.valid_to, current.valid_from);

      const oldHistory = (await t.client.getMemoryHistory(berlin.id)).results;
      assert.deepEqual(
        oldHistory.map((h) => h.event),
        ["ADD", "UPDATE"],
      );
      assert.equal(oldHistory[1]?.related_memory_id, u.id);
      assert.match(oldHistory[1]?.reason ?? "", /superseded/);
      const newHistory = (await t.client.getMemoryHistory(u.id)).results;
      assert.equal(newHistory[0]?.related_memory_id, berlin.id);

      // Time: current by default; as_of before the move gives the old home; all on request.
      const ids = (rs: { id: string }[]) => rs.map((r) => r.id).sort();
      assert.deepEqual(ids((await t.client.listMemories({ user_id: "alice" })).results), [u.id]);
      assert.deepEqual(
        ids(
          (await t.client.listMemories({ user_id: "alice", as_of: "2026-01-20T00:00:00Z" }))
            .results,
        ),
        [berlin.id],
      );
      const everything = await t.client.searchMemories({
        query: "where does Alice live?",
        user_id: "alice",
        include_superseded: true,
      });
      assert.deepEqual(ids(everything.results), [berlin.id, u.id].sort());
      const then = await t.client.searchMemories({
        query: "where does Alice live?",
        user_id: "alice",
        as_of: "2026-01-20T00:00:00Z",
      });
      assert.deepEqual(ids(then.results), [berlin.id]);

      // The resolved date is searchable by keyword.
      const found = await t.client.searchMemories({
        query: "February 2026",
        user_id: "alice",
        mode: "keyword",
      });
      assert.deepEqual(
        found.results.map((h) => h.id),
        [u.id],
      );
    });

    test("saying it again is a NOOP, recorded in history with its source", async () => {
      const t = await tenant();
      const body: AddMemoryBody = {
        messages: [said("Bob", "I work at Acme Corp.", "2026-02-01T10:00:00Z")],
        user_id: "bob",
        infer: true,
      };
      const first = await t.client.addMemory(body);
      assert.equal(first.results[0]?.event, "ADD");
      const again = await t.client.addMemory({
        ...body,
        messages: [said("Bob", "I work at Acme Corp.", "2026-02-03T10:00:00Z")],
      });
      assert.equal(again.results.length, 1);
      assert.equal(again.results[0]?.event, "NOOP");
      assert.equal(again.results[0]?.id, first.results[0]?.id);
      const history = (await t.client.getMemoryHistory(first.results[0]?.id as string)).results;
      assert.deepEqual(
        history.map((h) => h.event),
        ["ADD", "NOOP"],
      );
      assert.ok(history[1]?.reason);
      assert.equal(history[1]?.sources?.[0]?.content, "I work at Acme Corp.");
      assert.equal((await listAll(t)).length, 1);
    });

    test("greetings, thanks and bare questions give no memories", async () => {
      const t = await tenant();
      const res = await t.client.addMemory({
        messages: [
          { role: "user", content: "Hello!" },
          { role: "assistant", content: "Hi, how can I help you today?" },
          { role: "user", content: "Thanks so much 🙏" },
          { role: "user", content: "What time is it?" },
        ],
        user_id: "carol",
        infer: true,
      });
      assert.deepEqual(res.results, []);
      assert.equal((await listAll(t)).length, 0);
    });

    test("a negation invalidates the memory it contradicts (DELETE, row kept)", async () => {
      const t = await tenant();
      const first = await t.client.addMemory({
        messages: [said("Dana", "I work at Initech.", "2026-01-01T10:00:00Z")],
        user_id: "dana",
        infer: true,
      });
      const job = first.results[0];
      assert.equal(job?.event, "ADD");
      assert.equal((await t.client.getMemory(job?.id as string)).valid_to, null); // now cached
      const quit = await t.client.addMemory({
        messages: [said("Dana", "I don't work at Initech anymore.", "2026-04-01T10:00:00Z")],
        user_id: "dana",
        infer: true,
      });
      assert.equal(quit.results.length, 1, JSON.stringify(quit));
      assert.equal(quit.results[0]?.event, "DELETE");
      assert.equal(quit.results[0]?.id, job?.id);
      const m = await t.client.getMemory(job?.id as string);
      assert.equal(m.valid_to, "2026-04-01T10:00:00.000Z");
      assert.equal(m.superseded_by, null);
    });

    test("isolation: another user's or tenant's message never supersedes a memory", async () => {
      const t = await tenant();
      const other = await tenant();
      const a = await t.client.addMemory({
        messages: [said("Erin", "I live in Madrid.", "2026-01-01T10:00:00Z")],
        user_id: "erin",
        infer: true,
      });
      const aId = a.results[0]?.id as string;
      for (const [client, user] of [
        [t.client, "frank"],
        [other.client, "erin"],
      ] as const) {
        const b = await client.addMemory({
          messages: [said("Erin", "I moved to Rome.", "2026-02-01T10:00:00Z")],
          user_id: user,
          infer: true,
        });
        assert.equal(b.results[0]?.event, "ADD", JSON.stringify(b));
        assert.equal(b.results[0]?.supersedes, undefined);
      }
      const still = await t.client.getMemory(aId);
      assert.equal(still.valid_to, null);
      assert.equal(still.superseded_by, null);
    });

    test("a correction later in the same conversation supersedes what it corrects", async () => {
      const t = await tenant();
      const res = await t.client.addMemory({
        messages: [
          said("Gus", "I live in Lisbon.", "2026-05-01T10:00:00Z"),
          said("Gus", "Actually, I live in Porto now.", "2026-05-01T10:01:00Z"),
        ],
        user_id: "gus",
        infer: true,
      });
      assert.deepEqual(
        res.results.map((r) => r.event),
        ["ADD", "UPDATE"],
        JSON.stringify(res),
      );
      assert.equal(res.results[1]?.supersedes, res.results[0]?.id);
      assert.deepEqual(
        (await listAll(t)).map((m) => m.memory).filter((m) => /Porto/.test(m)).length,
        1,
      );
    });

    test("concurrent identical inferences store the fact once", async () => {
      const t = await tenant();
      const body: AddMemoryBody = {
        messages: [said("Hal", "I am allergic to peanuts.", "2026-01-01T10:00:00Z")],
        user_id: "hal",
        infer: true,
      };
      const all = await Promise.all(Array.from({ length: 5 }, () => t.client.addMemory(body)));
      const events = all.flatMap((r) => r.results.map((x) => x.event)).sort();
      assert.deepEqual(events, ["ADD", "NOOP", "NOOP", "NOOP", "NOOP"]);
      assert.equal((await listAll(t)).length, 1);
    });

    test("an Idempotency-Key replays the first response without deciding again", async () => {
      const t = await tenant();
      const body: AddMemoryBody = {
        text: "I have two cats named Miso and Tofu.",
        user_id: "ivy",
        infer: true,
      };
      const first = await t.client.addMemory(body, { idempotencyKey: "k1" });
      const replay = await t.client.addMemory(body, { idempotencyKey: "k1" });
      assert.deepEqual(replay, first);
      const id = first.results[0]?.id as string;
      assert.equal((await t.client.getMemoryHistory(id)).results.length, 1);
    });

    test("batch: every body inferred in one transaction, in order", async () => {
      const t = await tenant();
      const res = await t.client.batchAddMemories({
        memories: [
          { text: "I live in Oslo.", user_id: "jo", infer: true },
          { text: "I moved to Bergen.", user_id: "jo", infer: true },
          { text: "I live in Oslo.", user_id: "kim", infer: true },
        ],
      });
      assert.deepEqual(
        res.results.map((r) => r.event),
        ["ADD", "UPDATE", "ADD"],
        JSON.stringify(res),
      );
    });

    test("inferred memories get the project's categories; filters select by them", async () => {
      const t = await tenant();
      const res = await t.client.addMemory({
        messages: [
          said("Max", "I am allergic to peanuts.", "2026-01-01T10:00:00Z"),
          said("Max", "I work as a software engineer at Globex.", "2026-01-01T10:01:00Z"),
        ],
        user_id: "max",
        infer: true,
      });
      assert.equal(res.results.length, 2, JSON.stringify(res));
      const [allergy, job] = await Promise.all(res.results.map((r) => t.client.getMemory(r.id)));
      assert.ok(allergy?.categories.includes("health"), JSON.stringify(allergy?.categories));
      assert.ok(job?.categories.includes("work"), JSON.stringify(job?.categories));
      const health = await t.client.searchMemories({
        query: "what should I know about Max?",
        user_id: "max",
        filters: { categories: "health" },
      });
      assert.ok(health.results.some((h) => h.id === allergy?.id));
      assert.ok(health.results.every((h) => h.categories.includes("health")));
    });

    test("a job change across a year boundary; emoji and another language; a very long message", async () => {
      const t = await tenant();
      const first = await t.client.addMemory({
        messages: [said("Nia", "I work at Initech 💼", "2025-06-01T10:00:00Z")],
        user_id: "nia",
        infer: true,
      });
      assert.equal(first.results[0]?.event, "ADD", JSON.stringify(first));
      const changed = await t.client.addMemory({
        messages: [
          said("Nia", "Happy new year!!! 🎉🎉", "2026-01-15T10:00:00Z"),
          said("Nia", "I started at Globex last month.", "2026-01-15T10:00:05Z"),
          said("Nia", "Je parle aussi un peu français.", "2026-01-15T10:00:10Z"),
        ],
        user_id: "nia",
        infer: true,
      });
      const byEvent = Object.fromEntries(changed.results.map((r) => [r.event, r]));
      assert.deepEqual(
        changed.results.map((r) => r.event).sort(),
        ["ADD", "UPDATE"],
        JSON.stringify(changed),
      );
      assert.equal(byEvent.UPDATE?.supersedes, first.results[0]?.id);
      assert.match(byEvent.UPDATE?.memory ?? "", /Globex.*December 2025/);
      assert.equal(
        (await t.client.getMemory(byEvent.UPDATE?.id as string)).valid_from,
        "2025-12-01T00:00:00.000Z",
      );
      assert.match(byEvent.ADD?.memory ?? "", /français/);

      // A 16,000-character message: every sentence read, the facts stored, nothing cut mid-word.
      const sentence = "I collect old maps of harbours. ";
      const long = sentence.repeat(Math.floor(16_000 / sentence.length));
      const res = await t.client.addMemory({ text: long, user_id: "nia", infer: true });
      assert.ok(res.results.length >= 1, JSON.stringify(res).slice(0, 300));
      assert.ok(res.results.every((r) => ["ADD", "NOOP", "UPDATE"].includes(r.event)));
      const maps = (await listAll(t)).filter((m) => /maps of harbours/.test(m.memory));
      assert.equal(maps.length, 1, "repeated sentences are one memory");
    });

    test("errors: a bad message timestamp is 400 naming it, nothing stored", async () => {
      const t = await tenant();
      await expectProblem(
        t.client.addMemory({
          messages: [said("Lee", "I live in Paris.", "0001-01-01T00:00:00Z")],
          infer: true,
        }),
        400,
        "validation_failed",
        "messages[0].timestamp",
      );
      assert.equal((await listAll(t)).length, 0);
    });
  });
});
