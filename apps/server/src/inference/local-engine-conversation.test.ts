import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import type { Embedder } from "../embeddings/embedder.ts";
import { createLocalEmbedder } from "../embeddings/local-embedder.ts";
import type { Attribute, Decision, Neighbour, SourceMessage } from "./engine.ts";
import { createLocalEngine } from "./local-engine.ts";

/**
 * A conversation over months, through the local engine with the real embedding model: each fact is
 * reconciled with the five most similar current memories, and its decision is applied to a list
 * that stands for the scope's memories (the memory service does the same against the database).
 */

let embedder: Embedder;
before(async () => {
  embedder = await createLocalEmbedder();
});
after(() => embedder.close());

interface Stored {
  id: string;
  memory: string;
  vector: Float32Array;
  attribute: Attribute | undefined;
  validFrom: string;
  validTo: string | null;
}

const cosine = (a: Float32Array, b: Float32Array): number =>
  a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0);

const engine = createLocalEngine();

async function converse(turns: [string, string][]) {
  const memories: Stored[] = [];
  const events: [string, Decision["event"], string][] = [];
  /** How many events each turn gave. */
  const perTurn: number[] = [];
  for (const [time, content] of turns) {
    perTurn.push(0);
    const message: SourceMessage = {
      index: 0,
      role: "user",
      speaker: "Alice",
      content,
      time: new Date(time),
    };
    for (const fact of (await engine.extract([message])).value) {
      const [vector] = await embedder.embed([fact.text]);
      assert.ok(vector);
      const current = memories.filter((m) => m.validTo === null);
      const neighbours: Neighbour[] = current
        .map((m) => ({
          id: m.id,
          memory: m.memory,
          similarity: cosine(vector, m.vector),
          attribute: m.attribute ? { subject: m.attribute.subject, key: m.attribute.key } : null,
          validFrom: m.validFrom,
        }))
        .sort((a, b) => b.similarity - a.similarity)
        .slice(0, 5);
      const decision = (await engine.reconcile(fact, neighbours, { duplicateThreshold: 0.85 }))
        .value;
      events.push([fact.text, decision.event, decision.reason]);
      perTurn[perTurn.length - 1] = (perTurn.at(-1) ?? 0) + 1;
      const target = memories.find((m) => m.id === decision.targetId);
      const add = (): void => {
        memories.push({
          id: `mem_${memories.length}`,
          memory: decision.text,
          vector,
          attribute: fact.negates ? undefined : fact.attribute,
          validFrom: fact.validFrom,
          validTo: null,
        });
      };
      if (decision.event === "ADD") add();
      else if (decision.event === "DELETE" && target) target.validTo = fact.validFrom;
      else if (decision.event === "UPDATE" && target && decision.supersede) {
        target.validTo = fact.validFrom;
        add();
      } else if (decision.event === "UPDATE" && target) {
        target.memory = decision.text;
        [target.vector] = (await embedder.embed([decision.text])) as [Float32Array];
      }
    }
  }
  return { events, memories, perTurn };
}

test("moves, job changes, enrichment and traps over a year of conversation", async () => {
  const { events, memories } = await converse([
    ["2026-01-10T09:00:00Z", "Hi! I live in Berlin and I work at Acme. I love hiking in the Alps."],
    ["2026-03-01T09:00:00Z", "I moved to Lisbon last month! Thanks for asking."],
    ["2026-03-05T09:00:00Z", "I live in Lisbon now."],
    ["2026-06-15T09:00:00Z", "I quit my job at Acme two weeks ago. I joined Feedzai yesterday."],
    ["2026-07-01T09:00:00Z", "I love hiking in the Alps with my dog."],
    ["2026-07-02T09:00:00Z", "My sister lives in Paris. I'd love to live in Tokyo. ok 👍"],
  ]);
  assert.deepEqual(
    events.map(([text, event]) => [text, event]),
    [
      ["Alice lives in Berlin.", "ADD"],
      ["Alice works at Acme.", "ADD"],
      ["Alice loves hiking in the Alps.", "ADD"],
      ["Alice moved to Lisbon in February 2026!", "UPDATE"],
      ["Alice lives in Lisbon now.", "NOOP"],
      ["Alice quit their job at Acme on 1 June 2026.", "DELETE"],
      ["Alice joined Feedzai on 14 June 2026.", "ADD"],
      ["Alice loves hiking in the Alps with their dog.", "UPDATE"],
      ["Alice's sister lives in Paris.", "ADD"],
      ["Alice would love to live in Tokyo.", "ADD"],
    ],
  );
  assert.equal(events[3]?.[2], "lives_in changed: Berlin → Lisbon");
  const current = memories.filter((m) => m.validTo === null).map((m) => m.memory);
  assert.deepEqual(current.sort(), [
    "Alice joined Feedzai on 14 June 2026.",
    "Alice loves hiking in the Alps with their dog.",
    "Alice moved to Lisbon in February 2026!",
    "Alice would love to live in Tokyo.",
    "Alice's sister lives in Paris.",
  ]);
  const berlin = memories.find((m) => m.memory === "Alice lives in Berlin.");
  assert.equal(berlin?.validTo, "2026-02-01T00:00:00.000Z");
  const acme = memories.find((m) => m.memory === "Alice works at Acme.");
  assert.equal(acme?.validTo, "2026-06-01T00:00:00.000Z");
});

interface Case {
  id: string;
  kind: string;
  before: string[];
  said: string;
  expected: Decision["event"] | "NONE";
  note?: string;
}

test("the labelled conversation cases (fixtures/conversation-cases.json)", async () => {
  const file = new URL("./fixtures/conversation-cases.json", import.meta.url);
  const { cases } = JSON.parse(readFileSync(file, "utf8")) as { cases: Case[] };
  assert.ok(cases.length >= 100);
  const wrong: string[] = [];
  for (const c of cases) {
    const turns: [string, string][] = c.before.map((text) => ["2026-01-10T09:00:00Z", text]);
    const { events, perTurn } = await converse([...turns, ["2026-06-01T09:00:00Z", c.said]]);
    const said = events.slice(events.length - (perTurn.at(-1) ?? 0));
    const got = said.length === 0 ? "NONE" : said.map(([, event]) => event).join("+");
    if (got !== c.expected)
      wrong.push(`${c.id} (${c.note ?? ""}): ${c.said} → ${got}, expected ${c.expected}`);
  }
  assert.deepEqual(wrong, []);
});
