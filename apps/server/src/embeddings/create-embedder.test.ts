import assert from "node:assert/strict";
import { test } from "node:test";
import { createEmbedder } from "./create-embedder.ts";

test("creates the local embedder", async () => {
  const embedder = await createEmbedder({ provider: "local" });
  try {
    assert.equal(embedder.modelId, "use-lite-512");
    const [vector] = await embedder.embed(["hello"]);
    assert.equal(vector?.length, 512);
  } finally {
    await embedder.close();
  }
});

test("creates the OpenAI-compatible embedder without calling it", async () => {
  const embedder = await createEmbedder({
    provider: "openai",
    baseUrl: "http://127.0.0.1:9/v1",
    model: "text-embedding-3-small",
    dimension: 1536,
  });
  assert.equal(embedder.modelId, "openai:text-embedding-3-small");
  assert.equal(embedder.dimension, 1536);
  await embedder.close();
});
