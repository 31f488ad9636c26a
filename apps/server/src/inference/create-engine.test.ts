import assert from "node:assert/strict";
import { test } from "node:test";
import { fakeExtractAnswer, startFakeOpenAI } from "../testing/fake-openai.ts";
import { createInferenceEngine } from "./create-engine.ts";
import type { InferenceEngine } from "./engine.ts";

const local: InferenceEngine = {
  name: "local",
  extract: async () => ({ value: [], calls: [] }),
  reconcile: async (fact) => ({
    value: { event: "ADD", text: fact.text, reason: "local" },
    calls: [],
  }),
};

test("without LLM configuration the local engine is the engine", () => {
  assert.equal(createInferenceEngine(undefined, local), local);
});

test("with LLM configuration the LLM engine calls the configured endpoint and model", async () => {
  const fake = await startFakeOpenAI({ apiKey: "sk-config-key" });
  try {
    const engine = createInferenceEngine(
      {
        baseUrl: fake.baseUrl,
        model: "configured-model",
        apiKey: "sk-config-key",
        timeoutMs: 5_000,
        maxRetries: 0,
        prices: { "configured-model": { input_per_mtok: 3, output_per_mtok: 15 } },
      },
      local,
      { categories: [{ name: "plans", description: "Things planned" }] },
    );
    assert.equal(engine.name, "llm");
    fake.setHandler((req) => fakeExtractAnswer([{ text: "Bob plans a trip to Oslo." }], req));
    const out = await engine.extract([
      {
        index: 0,
        role: "user",
        speaker: "bob",
        content: "I plan a trip to Oslo.",
        time: new Date(),
      },
    ]);
    assert.equal(out.fallback, undefined);
    assert.deepEqual(out.value[0]?.categories, []);
    assert.equal(fake.requests[0]?.model, "configured-model");
    assert.equal(out.calls[0]?.costUsd, (10 * 3 + 5 * 15) / 1e6);
  } finally {
    await fake.close();
  }
});
