import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import {
  type FakeOpenAI,
  fakeExtractAnswer,
  fakeReconcileAnswer,
  fakeRequestInput,
  startFakeOpenAI,
} from "../testing/fake-openai.ts";
import type {
  Decision,
  EngineOutcome,
  Fact,
  InferenceEngine,
  Neighbour,
  SourceMessage,
} from "./engine.ts";
import { createLlmClient } from "./llm-client.ts";
import { createLlmEngine } from "./llm-engine.ts";

const MODEL = "gpt-test-mini";
const CATEGORIES = [
  { name: "travel", description: "Trips, places visited and travel plans" },
  { name: "work", description: "Jobs, employers, roles and projects" },
];
const THRESHOLD = { duplicateThreshold: 0.9 };

/** The local engine stand-in: it only shows which steps were handed over, and answers a marker. */
function recordingLocal() {
  const handed: string[] = [];
  const local: InferenceEngine = {
    name: "local",
    async extract(messages): Promise<EngineOutcome<Fact[]>> {
      handed.push("extract");
      const fact: Fact = {
        text: `local: ${messages[0]?.content}`,
        sources: [0],
        validFrom: "2026-11-29T10:00:00.000Z",
        entities: [],
      };
      return { value: [fact], calls: [] };
    },
    async reconcile(fact): Promise<EngineOutcome<Decision>> {
      handed.push("reconcile");
      return { value: { event: "ADD", text: fact.text, reason: "local rules" }, calls: [] };
    },
  };
  return { local, handed };
}

const messages: SourceMessage[] = [
  {
    index: 0,
    role: "user",
    speaker: "alice",
    content: "Hi! Last month I moved to Lisbon.",
    time: new Date("2026-11-29T10:00:00Z"),
  },
  {
    index: 1,
    role: "user",
    speaker: "alice",
    content: "I start at Acme next Monday.",
    time: new Date("2026-11-30T09:00:00Z"),
  },
];

const fact: Fact = {
  text: "alice lives in Lisbon since October 2026",
  sources: [0],
  validFrom: "2026-10-01T00:00:00.000Z",
  attribute: { subject: "alice", key: "lives_in", value: "Lisbon" },
  entities: ["alice", "lisbon"],
};
const neighbours: Neighbour[] = [
  {
    id: "mem_01JBERLIN",
    memory: "alice lives in Berlin",
    similarity: 0.8123,
    attribute: { subject: "alice", key: "lives_in" },
    validFrom: "2024-03-01T00:00:00.000Z",
  },
];

let fake: FakeOpenAI;
before(async () => {
  fake = await startFakeOpenAI();
});
after(() => fake.close());
beforeEach(() => {
  fake.reset();
  fake.setHandler(undefined);
});

function engine(opts: { timeoutMs?: number; maxRetries?: number } = {}) {
  const { local, handed } = recordingLocal();
  const client = createLlmClient({
    baseUrl: fake.baseUrl,
    model: MODEL,
    timeoutMs: opts.timeoutMs ?? 10_000,
    maxRetries: opts.maxRetries ?? 0,
    maxBackoffMs: 10,
    prices: { [MODEL]: { input_per_mtok: 1, output_per_mtok: 2 } },
  });
  return { engine: createLlmEngine({ client, local, categories: CATEGORIES }), handed };
}

describe("LLM engine: extract", () => {
  test("valid output becomes facts; the model gets times, categories and the schema", async () => {
    const { engine: llm, handed } = engine();
    assert.equal(llm.name, "llm");
    fake.setHandler(() =>
      fakeExtractAnswer([
        {
          text: "Alice moved to Lisbon in October 2026.",
          source_indexes: [0],
          valid_from: "2026-10-01",
          attribute: { subject: " Alice ", key: "Lives In", value: "Lisbon" },
          entities: [
            { name: "Alice", type: "person" },
            { name: " Lisbon ", type: "place", aliases: ["Lisboa", "lisbon", ""] },
            { name: "lisbon", type: "other" },
            { name: "2026-10", type: "date", aliases: ["October 2026"] },
          ],
          relations: [
            { subject: "alice", predicate: "lives_in", object: "Lisbon", valid_from: "2026-10-01" },
            { subject: "Alice", predicate: "works_at", object: "Acme Corp" },
            { subject: "Alice", predicate: "knows", object: "alice" },
          ],
          categories: ["travel"],
        },
        {
          text: "Alice starts at Acme on 7 December 2026.",
          source_indexes: [1, 1],
          entities: ["alice", "acme"],
          categories: ["work"],
        },
      ]),
    );
    const out = await llm.extract(messages);
    assert.equal(out.fallback, undefined);
    assert.deepEqual(handed, []);
    assert.deepEqual(out.value, [
      {
        text: "Alice moved to Lisbon in October 2026.",
        sources: [0],
        validFrom: "2026-10-01T00:00:00.000Z",
        attribute: { subject: "alice", key: "lives_in", value: "Lisbon" },
        entities: ["alice", "lisbon", "2026-10", "acme corp"],
        // Names kept once (trimmed, any case), aliases without repeats of the name; a relation's
        // end the model did not list joins as `other`; a relation of an entity to itself is dropped.
        mentions: {
          entities: [
            { type: "person", name: "Alice", aliases: [] },
            { type: "place", name: "Lisbon", aliases: ["Lisboa"] },
            { type: "date", name: "2026-10", aliases: ["October 2026"] },
            { type: "other", name: "Acme Corp", aliases: [] },
          ],
          relations: [
            {
              subject: 0,
              predicate: "lives_in",
              object: 1,
              validFrom: "2026-10-01T00:00:00.000Z",
              validTo: undefined,
            },
            {
              subject: 0,
              predicate: "works_at",
              object: 3,
              validFrom: undefined,
              validTo: undefined,
            },
          ],
        },
        categories: ["travel"],
      },
      {
        text: "Alice starts at Acme on 7 December 2026.",
        sources: [1],
        validFrom: "2026-11-30T09:00:00.000Z",
        entities: ["alice", "acme"],
        mentions: {
          entities: [
            { type: "other", name: "alice", aliases: [] },
            { type: "other", name: "acme", aliases: [] },
          ],
          relations: [],
        },
        categories: ["work"],
      },
    ]);
    assert.equal(out.calls.length, 1);
    assert.equal(out.calls[0]?.purpose, "extract");
    assert.equal(out.calls[0]?.costUsd, (10 * 1 + 5 * 2) / 1e6);

    const [req] = fake.requests;
    assert.equal(req?.schemaName, "engram_extract");
    assert.equal(req?.headers["x-engram-prompt-version"], "extract.v2");
    const system = req?.messages[0]?.content ?? "";
    assert.match(system, /travel: Trips, places visited and travel plans/);
    assert.match(system, /on 29 November 2026/);
    assert.match(system, /use `lives_in`, `works_at`, `job_title`/);
    assert.doesNotMatch(system, /\{\{/, "every placeholder is filled");
    assert.deepEqual(fakeRequestInput(req as NonNullable<typeof req>), {
      messages: [
        {
          index: 0,
          role: "user",
          speaker: "alice",
          time: "2026-11-29T10:00:00.000Z",
          content: messages[0]?.content,
        },
        {
          index: 1,
          role: "user",
          speaker: "alice",
          time: "2026-11-30T09:00:00.000Z",
          content: messages[1]?.content,
        },
      ],
    });
    const schema = JSON.stringify(req?.response_format);
    assert.match(schema, /"enum":\["travel","work"\]/);
  });

  test("categories given with the call replace the engine's", async () => {
    const { engine: llm } = engine();
    fake.setHandler((req) =>
      fakeExtractAnswer([{ text: "Alice has asthma.", categories: ["health"] }], req),
    );
    const out = await llm.extract(messages, {
      categories: [{ name: "health", description: "Conditions and treatments" }],
    });
    assert.equal(out.fallback, undefined);
    assert.deepEqual(out.value[0]?.categories, ["health"]);
    assert.match(fake.requests[0]?.messages[0]?.content ?? "", /health: Conditions and treatments/);
    assert.doesNotMatch(fake.requests[0]?.messages[0]?.content ?? "", /travel:/);
  });

  test("an answer failing the schema is asked for once more, with the reason", async () => {
    const { engine: llm, handed } = engine();
    fake.enqueue(
      { content: { facts: [{ text: 42 }] } },
      fakeExtractAnswer([{ text: "Alice lives in Lisbon.", categories: [] }]),
    );
    const out = await llm.extract(messages);
    assert.equal(out.fallback, undefined);
    assert.deepEqual(handed, []);
    assert.equal(out.value[0]?.text, "Alice lives in Lisbon.");
    assert.equal(out.calls.length, 2);
    const retry = fake.requests[1];
    assert.equal(retry?.messages.length, 4);
    assert.equal(retry?.messages[2]?.role, "assistant");
    assert.match(retry?.messages[3]?.content ?? "", /invalid: \/facts\/0/);
  });

  test("schema-breaking output twice hands extraction to the local engine, saying why", async () => {
    const { engine: llm, handed } = engine();
    fake.enqueue(
      { content: "Sure! Here are the facts: Alice moved." },
      { content: { facts: "none" } },
    );
    const out = await llm.extract(messages);
    assert.deepEqual(handed, ["extract"]);
    assert.deepEqual(
      out.value.map((f) => f.text),
      [`local: ${messages[0]?.content}`],
    );
    assert.match(out.fallback ?? "", /^llm extract output failed the schema twice: \/facts/);
    assert.equal(out.calls.length, 2, "both failed calls are accounted for");
  });

  test("source indexes naming no message count as a bad answer", async () => {
    const { engine: llm, handed } = engine();
    const wrong = fakeExtractAnswer([
      { text: "Alice moved.", source_indexes: [7], categories: [] },
    ]);
    fake.enqueue(wrong, wrong);
    const out = await llm.extract(messages);
    assert.deepEqual(handed, ["extract"]);
    assert.match(out.fallback ?? "", /source_indexes names no message 7/);
  });

  test("a relation's date that is not ISO 8601, or an entity type not in the list, is asked for again", async () => {
    const { engine: llm, handed } = engine();
    const badDate = fakeExtractAnswer([
      {
        text: "Alice lives in Lisbon.",
        entities: [
          { name: "Alice", type: "person" },
          { name: "Lisbon", type: "place" },
        ],
        relations: [
          { subject: "Alice", predicate: "lives_in", object: "Lisbon", valid_to: "soon" },
        ],
        categories: [],
      },
    ]);
    fake.enqueue(badDate, badDate);
    const out = await llm.extract(messages);
    assert.deepEqual(handed, ["extract"]);
    assert.match(
      out.fallback ?? "",
      /\/facts\/0\/relations\/0\/valid_to "soon" is not an ISO 8601 date/,
    );

    fake.reset();
    const { engine: again } = engine();
    fake.enqueue(
      fakeExtractAnswer([
        {
          text: "Alice lives in Lisbon.",
          entities: [{ name: "Lisbon", type: "city" as "place" }],
          categories: [],
        },
      ]),
      fakeExtractAnswer([
        {
          text: "Alice lives in Lisbon.",
          entities: [{ name: "Lisbon", type: "place" }],
          categories: [],
        },
      ]),
    );
    const second = await again.extract(messages);
    assert.equal(second.fallback, undefined);
    assert.match(fake.requests[1]?.messages[3]?.content ?? "", /\/facts\/0\/entities\/0\/type/);
    assert.deepEqual(second.value[0]?.mentions?.entities, [
      { type: "place", name: "Lisbon", aliases: [] },
    ]);
  });

  test("text the database cannot store (NUL) counts as a bad answer", async () => {
    const { engine: llm, handed } = engine();
    const nul = fakeExtractAnswer([{ text: "Alice\u0000 moved.", categories: [] }]);
    fake.enqueue(nul, nul);
    const out = await llm.extract(messages);
    assert.deepEqual(handed, ["extract"]);
    assert.match(out.fallback ?? "", /\/facts\/0\/text holds a NUL character/);
  });

  test("a timeout hands extraction to the local engine", async () => {
    const { engine: llm, handed } = engine({ timeoutMs: 300 });
    fake.enqueue("hang");
    const out = await llm.extract(messages);
    assert.deepEqual(handed, ["extract"]);
    assert.match(out.fallback ?? "", /^llm extract failed: .*timed out after 300 ms/);
    assert.equal(out.value.length, 1);
    assert.equal(out.calls.length, 1);
  });

  test("500s past the retries hand extraction to the local engine", async () => {
    const { engine: llm, handed } = engine({ maxRetries: 1 });
    fake.enqueue({ status: 500 }, { status: 500 });
    const out = await llm.extract(messages);
    assert.deepEqual(handed, ["extract"]);
    assert.match(out.fallback ?? "", /HTTP 500.*\(2 attempts\)/);
    assert.equal(fake.requests.length, 2);
  });

  test("JSON in a Markdown code fence (servers not enforcing the schema) is accepted", async () => {
    const { engine: llm, handed } = engine();
    const answer = fakeExtractAnswer([{ text: "Alice lives in Lisbon.", categories: [] }]);
    const json = JSON.stringify((answer as { content: unknown }).content, null, 2);
    fake.enqueue({ content: `\`\`\`json\n${json}\n\`\`\`` });
    const out = await llm.extract(messages);
    assert.deepEqual(handed, []);
    assert.equal(out.value[0]?.text, "Alice lives in Lisbon.");
    assert.equal(out.calls.length, 1);
  });

  test("long messages with emoji and mixed scripts reach the model intact", async () => {
    const { engine: llm } = engine();
    const content = `Ich bin nach Lisboa gezogen 🏠🇵🇹 — 東京にも住んでいた. ${"🙂 ok ".repeat(20_000)}`;
    fake.enqueue(fakeExtractAnswer([{ text: "Alice moved to Lisbon.", categories: [] }]));
    const out = await llm.extract([{ ...(messages[0] as SourceMessage), content }]);
    assert.equal(out.fallback, undefined);
    const input = fakeRequestInput(fake.requests[0] as NonNullable<(typeof fake.requests)[0]>);
    assert.equal((input as { messages: { content: string }[] }).messages[0]?.content, content);
  });

  test("no messages: no call", async () => {
    const { engine: llm } = engine();
    const out = await llm.extract([]);
    assert.deepEqual(out, { value: [], calls: [] });
    assert.equal(fake.requests.length, 0);
  });
});

describe("LLM engine: reconcile", () => {
  test("a superseding UPDATE names a neighbour; the model sees fact, neighbours and threshold", async () => {
    const { engine: llm, handed } = engine();
    fake.enqueue(
      fakeReconcileAnswer({
        event: "UPDATE",
        target_id: "mem_01JBERLIN",
        supersede: true,
        text: "alice lives in Lisbon since October 2026",
        reason: "Alice moved from Berlin to Lisbon.",
      }),
    );
    const out = await llm.reconcile(fact, neighbours, THRESHOLD);
    assert.deepEqual(handed, []);
    assert.equal(out.fallback, undefined);
    assert.deepEqual(out.value, {
      event: "UPDATE",
      targetId: "mem_01JBERLIN",
      supersede: true,
      text: "alice lives in Lisbon since October 2026",
      reason: "Alice moved from Berlin to Lisbon.",
    });
    assert.equal(out.calls[0]?.purpose, "reconcile");
    const req = fake.requests[0];
    assert.equal(req?.schemaName, "engram_reconcile");
    assert.equal(req?.headers["x-engram-prompt-version"], "reconcile.v1");
    assert.deepEqual(fakeRequestInput(req as NonNullable<typeof req>), {
      fact: {
        text: fact.text,
        valid_from: fact.validFrom,
        attribute: fact.attribute,
        negates: false,
        entities: fact.entities,
      },
      neighbours: [
        {
          id: "mem_01JBERLIN",
          memory: "alice lives in Berlin",
          similarity: 0.812,
          attribute: { subject: "alice", key: "lives_in" },
          valid_from: "2024-03-01T00:00:00.000Z",
        },
      ],
      duplicate_threshold: 0.9,
    });
  });

  test("ADD keeps the fact's text when the model leaves it empty; NOOP keeps the neighbour's", async () => {
    const { engine: llm } = engine();
    fake.enqueue(
      fakeReconcileAnswer({ event: "ADD" }),
      fakeReconcileAnswer({ event: "NOOP", target_id: "mem_01JBERLIN", text: "whatever" }),
    );
    const add = await llm.reconcile(fact, [], THRESHOLD);
    assert.deepEqual(add.value, { event: "ADD", text: fact.text, reason: "scripted ADD" });
    const noop = await llm.reconcile(fact, neighbours, THRESHOLD);
    assert.deepEqual(noop.value, {
      event: "NOOP",
      targetId: "mem_01JBERLIN",
      text: "alice lives in Berlin",
      reason: "scripted NOOP",
    });
  });

  test("a target_id not among the neighbours twice hands the decision to the local engine", async () => {
    const { engine: llm, handed } = engine();
    const invented = fakeReconcileAnswer({ event: "DELETE", target_id: "mem_OTHER_TENANT" });
    fake.enqueue(invented, invented);
    const out = await llm.reconcile(fact, neighbours, THRESHOLD);
    assert.deepEqual(handed, ["reconcile"]);
    assert.deepEqual(out.value, { event: "ADD", text: fact.text, reason: "local rules" });
    assert.match(
      out.fallback ?? "",
      /^llm reconcile output failed the schema twice: \/target_id "mem_OTHER_TENANT" is not one of the neighbours/,
    );
    assert.equal(out.calls.length, 2);
  });

  test("an unknown event is a schema failure; a valid second answer is used", async () => {
    const { engine: llm, handed } = engine();
    fake.enqueue(
      { content: { event: "MERGE", target_id: null, supersede: false, text: "", reason: "" } },
      fakeReconcileAnswer({
        event: "DELETE",
        target_id: "mem_01JBERLIN",
        reason: "no longer true",
      }),
    );
    const out = await llm.reconcile({ ...fact, negates: true }, neighbours, THRESHOLD);
    assert.deepEqual(handed, []);
    assert.deepEqual(out.value, {
      event: "DELETE",
      targetId: "mem_01JBERLIN",
      text: "alice lives in Berlin",
      reason: "no longer true",
    });
  });

  test("exhausted retries hand the decision to the local engine", async () => {
    const { engine: llm, handed } = engine({ maxRetries: 1 });
    fake.enqueue({ status: 429, headers: { "retry-after": "0" } }, { status: 503 });
    const out = await llm.reconcile(fact, neighbours, THRESHOLD);
    assert.deepEqual(handed, ["reconcile"]);
    assert.match(out.fallback ?? "", /^llm reconcile failed: .*HTTP 503/);
  });
});
