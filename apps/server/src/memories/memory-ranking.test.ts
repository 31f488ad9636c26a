import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { SearchHit, SearchMemoriesBody } from "@engram/sdk";
import { describeOnBackends, expectProblem, type Tenant, tenant } from "../testing/route-suite.ts";

// Hybrid ranking's signals besides vector and keyword (ADR 0033): the entity list, the time
// window a query names, session neighbours' scores and recency. Each test shows the order with
// the signal and without it, so it fails if the signal stops counting.

const OFF = { entities: false, time: false, context: false };

async function search(t: Tenant, body: SearchMemoriesBody): Promise<SearchHit[]> {
  return (await t.client.searchMemories(body)).results;
}
const texts = (hits: SearchHit[]) => hits.map((h) => h.memory);

describeOnBackends("memory ranking", () => {
  describe("POST /v1/memories/search signals", () => {
    test("entities: a question about a person ranks what that person said first", async () => {
      const t = await tenant();
      // The message's name is the only tie between Gina and her memory: its text never names her.
      await t.client.addMemory({
        user_id: "u",
        messages: [
          {
            role: "user",
            name: "Jon",
            content: "My favourite style of dance is hip hop, I love the energy.",
          },
          {
            role: "user",
            name: "Gina",
            content: "Contemporary is what I dance most, it speaks to me.",
          },
          { role: "user", name: "Jon", content: "I opened a dance studio downtown last spring." },
          { role: "user", name: "Jon", content: "Salsa is a fun style too." },
        ],
      });
      const query = "What is Gina's favourite style of dance?";
      const plain = await search(t, { query, user_id: "u", signals: OFF });
      assert.match(plain[0]?.memory ?? "", /^My favourite/, texts(plain).join(" | "));
      assert.equal(plain[0]?.scores.entity, undefined);

      const ranked = await search(t, { query, user_id: "u" });
      assert.match(ranked[0]?.memory ?? "", /^Contemporary/, texts(ranked).join(" | "));
      // The speaker's link counts fully; Jon's memories do not name Gina.
      assert.equal(ranked[0]?.scores.entity, 1);
      assert.equal(ranked.find((h) => h.memory.startsWith("My favourite"))?.scores.entity, 0);

      const without = await search(t, { query, user_id: "u", signals: { entities: false } });
      assert.match(without[0]?.memory ?? "", /^My favourite/);
      assert.equal(without[0]?.scores.entity, null);
    });

    test("entities: a transcript label is the speaker, a name in the text a mention", async () => {
      const t = await tenant();
      await t.client.batchAddMemories({
        memories: [
          { text: "Gina: Contemporary is what I dance most.", user_id: "u" },
          { text: "Jon: Gina dances a lot.", user_id: "u" },
        ],
      });
      const hits = await search(t, { query: "Gina dancing", user_id: "u" });
      const entity = (re: RegExp) => hits.find((h) => re.test(h.memory))?.scores.entity;
      assert.equal(entity(/^Gina:/), 1);
      assert.ok(Math.abs((entity(/^Jon:/) ?? 0) - 0.3) < 1e-9);
    });

    test("entities: the list never reaches another user's memories", async () => {
      const t = await tenant();
      await t.client.batchAddMemories({
        memories: [
          { text: "Ana moved to Lisbon in March.", user_id: "a" },
          { text: "Ana loves Lisbon's trams.", user_id: "b" },
          { text: "Ana met Bruno in Lisbon.", user_id: "b" },
        ],
      });
      const hits = await search(t, { query: "What about Ana in Lisbon?", user_id: "a" });
      assert.deepEqual(
        hits.map((h) => h.user_id),
        ["a"],
      );
      assert.ok((hits[0]?.scores.entity ?? 0) > 0);
    });

    test("time: a window the query names ranks the memories inside it first", async () => {
      const t = await tenant();
      await t.client.batchAddMemories({
        memories: [
          {
            text: "Went hiking in the Alps with my brother, a long and steep trail.",
            user_id: "u",
            timestamp: "2023-08-12T10:00:00Z",
          },
          {
            text: "A short hike by the river.",
            user_id: "u",
            timestamp: "2023-05-20T10:00:00Z",
          },
          { text: "Bought new boots.", user_id: "u", timestamp: "2023-05-02T10:00:00Z" },
        ],
      });
      const query = "Where did I go hiking with my brother in May 2023?";
      const plain = await search(t, { query, user_id: "u", signals: OFF });
      assert.match(plain[0]?.memory ?? "", /Alps/, texts(plain).join(" | "));

      const ranked = await search(t, { query, user_id: "u" });
      assert.equal(ranked[0]?.memory, "A short hike by the river.", texts(ranked).join(" | "));
      assert.equal(ranked[0]?.scores.time, 1);
      assert.equal(ranked.find((h) => /Alps/.test(h.memory))?.scores.time, 0);

      // "last summer", read against a reference time, names June to August 2023.
      const summer = await search(t, {
        query: "hiking last summer",
        user_id: "u",
        reference_time: "2024-02-01T00:00:00Z",
      });
      assert.match(summer[0]?.memory ?? "", /Alps/);
      assert.equal(summer[0]?.scores.time, 1);
      const noWindow = await search(t, {
        query: "hiking last summer",
        user_id: "u",
        signals: { time: false },
      });
      assert.equal(noWindow[0]?.scores.time, null);
    });

    test("context: an answer ranks through the question before it in its session", async () => {
      const t = await tenant();
      await t.client.batchAddMemories({
        memories: [
          {
            text: "Gina: What did you paint for the exhibition last week?",
            user_id: "u",
            session_id: "s1",
          },
          { text: "Jon: A sunrise over the lake, in oils.", user_id: "u", session_id: "s1" },
          { text: "Jon: Watercolours dry fast, which I like.", user_id: "u", session_id: "s2" },
          { text: "Gina: The gallery opens at nine.", user_id: "u", session_id: "s2" },
        ],
      });
      const query = "painting for the exhibition";
      const plain = await search(t, { query, user_id: "u", signals: OFF });
      const ranked = await search(t, { query, user_id: "u" });
      const at = (hits: SearchHit[], re: RegExp) => hits.findIndex((h) => re.test(h.memory));
      assert.ok(
        at(ranked, /sunrise/) < at(plain, /sunrise/),
        `${texts(plain).join(" | ")} → ${texts(ranked).join(" | ")}`,
      );
      assert.ok(at(ranked, /sunrise/) < at(ranked, /Watercolours/));
    });

    test("recency: newer memories win when asked, with the factor in scores", async () => {
      const t = await tenant();
      await t.client.batchAddMemories({
        memories: [
          {
            text: "My favourite coffee is a flat white.",
            user_id: "u",
            timestamp: "2020-01-01T00:00:00Z",
          },
          {
            text: "These days I drink coffee black.",
            user_id: "u",
            timestamp: "2024-05-01T00:00:00Z",
          },
        ],
      });
      const query = "What is my favourite coffee?";
      const plain = await search(t, { query, user_id: "u" });
      assert.match(plain[0]?.memory ?? "", /flat white/);
      assert.equal(plain[0]?.scores.recency, undefined);
      const recent = await search(t, {
        query,
        user_id: "u",
        reference_time: "2024-06-01T00:00:00Z",
        recency: { half_life_days: 30, weight: 0.9 },
      });
      assert.match(recent[0]?.memory ?? "", /black/);
      assert.ok((recent[0]?.scores.recency ?? 0) > 0.3);
      assert.ok((recent[1]?.scores.recency ?? 1) < 0.01);
    });

    test("errors: reference_time, recency and signals are checked, naming the field", async () => {
      const t = await tenant();
      const bad = (body: Record<string, unknown>) =>
        t.client.searchMemories({ query: "x", ...body } as SearchMemoriesBody);
      await expectProblem(
        bad({ reference_time: "yesterday" }),
        400,
        "validation_failed",
        "reference_time",
      );
      await expectProblem(
        bad({ reference_time: "0000-01-01T00:00:00Z" }),
        400,
        "validation_failed",
        "reference_time",
      );
      await expectProblem(
        bad({ recency: { half_life_days: 0 } }),
        400,
        "validation_failed",
        "recency.half_life_days",
      );
      await expectProblem(
        bad({ recency: { half_life_days: 3, weight: 2 } }),
        400,
        "validation_failed",
        "recency.weight",
      );
      await expectProblem(
        bad({ signals: { vibes: true } }),
        400,
        "validation_failed",
        "signals.vibes",
      );
    });
  });
});
