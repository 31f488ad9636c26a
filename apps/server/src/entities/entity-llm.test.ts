import assert from "node:assert/strict";
import { after, beforeEach, describe, test } from "node:test";
import {
  type FakeChatRequest,
  type FakeFact,
  fakeExtractAnswer,
  fakeReconcileAnswer,
  fakeRequestInput,
  startFakeOpenAI,
} from "../testing/fake-openai.ts";
import { describeOnBackends, tenant } from "../testing/route-suite.ts";

// With the LLM engine configured, the model's typed entities and relations (extract.v2) are what
// an inferred memory is linked to, and a supersession the model decides closes the old relation.
// The model is a local server speaking the OpenAI chat-completions protocol.

const fake = await startFakeOpenAI();
after(() => fake.close());

/** The model's facts for each message text. */
const FACTS: Record<string, FakeFact> = {
  "I live in Lisbon.": {
    text: "Alice lives in Lisbon.",
    valid_from: "2026-01-01",
    attribute: { subject: "alice", key: "lives_in", value: "Lisbon" },
    entities: [
      { name: "Alice", type: "person" },
      { name: "Lisbon", type: "place", aliases: ["Lisboa"] },
    ],
    relations: [
      { subject: "Alice", predicate: "lives_in", object: "Lisbon", valid_from: "2026-01-01" },
    ],
  },
  "Moved to Porto, and I joined Acme.": {
    text: "Alice moved to Porto and works for Acme.",
    valid_from: "2026-06-01",
    attribute: { subject: "alice", key: "lives_in", value: "Porto" },
    entities: [
      { name: "Alice", type: "person" },
      { name: "Porto", type: "place" },
      { name: "Acme", type: "organization" },
    ],
    relations: [
      { subject: "Alice", predicate: "lives_in", object: "Porto" },
      { subject: "Alice", predicate: "Works For", object: "Acme", valid_from: "2026-05-15" },
    ],
  },
};

/** Extraction answers FACTS; reconciliation supersedes the Lisbon memory when it is offered. */
function model(request: FakeChatRequest) {
  const input = fakeRequestInput(request) as Record<string, unknown>;
  if (request.schemaName === "engram_extract") {
    const messages = input.messages as { content: string }[];
    return fakeExtractAnswer(
      messages.map((m) => FACTS[m.content] ?? { text: m.content }),
      request,
    );
  }
  const neighbours = input.neighbours as { id: string; memory: string }[];
  const fact = input.fact as { text: string };
  const lisbon = neighbours.find((n) => n.memory.includes("Lisbon"));
  return lisbon
    ? fakeReconcileAnswer({
        event: "UPDATE",
        target_id: lisbon.id,
        supersede: true,
        text: fact.text,
      })
    : fakeReconcileAnswer({ event: "ADD" });
}

describeOnBackends(
  "entities from the LLM engine",
  () => {
    beforeEach(() => {
      fake.reset();
      fake.setHandler(model);
    });

    describe("POST /v1/memories with infer: true", () => {
      test("links the model's typed entities; relations carry the model's validity and close on supersession", async () => {
        const t = await tenant();
        const say = (content: string, timestamp: string) =>
          t.client.addMemory({
            messages: [{ role: "user", name: "Alice", content, timestamp }],
            user_id: "alice",
            infer: true,
          });
        await say("I live in Lisbon.", "2026-01-05T10:00:00Z");
        const moved = await say("Moved to Porto, and I joined Acme.", "2026-06-03T10:00:00Z");
        assert.deepEqual(moved.inference, { engine: "llm" });
        assert.equal(moved.results[0]?.event, "UPDATE", JSON.stringify(moved));
        assert.equal(fake.requests[0]?.headers["x-engram-prompt-version"], "extract.v2");

        const list = (await t.client.listEntities({ user_id: "alice" })).results;
        assert.deepEqual(list.map((e) => [e.type, e.name, e.aliases]).sort(), [
          ["organization", "Acme", []],
          ["person", "Alice", []],
          ["place", "Lisbon", ["Lisboa"]],
          ["place", "Porto", []],
        ]);
        const alice = list.find((e) => e.name === "Alice");
        const detail = await t.client.getEntity(alice?.id as string);
        assert.deepEqual(
          detail.relations.map((r) => [r.predicate, r.object.name, r.valid_from, r.valid_to]),
          [
            ["lives_in", "Porto", "2026-06-01T00:00:00.000Z", null],
            ["works_for", "Acme", "2026-05-15T00:00:00.000Z", null],
            ["lives_in", "Lisbon", "2026-01-01T00:00:00.000Z", "2026-06-01T00:00:00.000Z"],
          ],
        );
        assert.equal(detail.memory_count, 1, "the Lisbon memory is superseded");
        assert.equal(detail.memories[0]?.id, moved.results[0]?.id);
      });

      test("when the model fails, the local engine's facts are linked by local extraction", async () => {
        const t = await tenant();
        fake.setHandler(() => ({ status: 500 }));
        const r = await t.client.addMemory({
          messages: [
            {
              role: "user",
              name: "Bo",
              content: "I work at Initech.",
              timestamp: "2026-02-01T00:00:00Z",
            },
          ],
          user_id: "bo",
          infer: true,
        });
        assert.match(r.inference?.fallback ?? "", /llm extract failed/);
        const list = (await t.client.listEntities()).results;
        assert.deepEqual(list.map((e) => [e.type, e.name]).sort(), [
          ["organization", "Initech"],
          ["person", "Bo"],
        ]);
        const bo = await t.client.getEntity(list.find((e) => e.name === "Bo")?.id as string);
        assert.deepEqual(
          bo.relations.map((r) => [r.predicate, r.object.name]),
          [["works_at", "Initech"]],
        );
      });
    });
  },
  {
    ENGRAM_LLM_BASE_URL: fake.baseUrl,
    ENGRAM_LLM_MODEL: "gpt-test-mini",
    ENGRAM_LLM_MAX_RETRIES: "0",
  },
);
