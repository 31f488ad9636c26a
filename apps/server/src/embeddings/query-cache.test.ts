import assert from "node:assert/strict";
import { test } from "node:test";
import type { Embedder } from "./embedder.ts";
import { withQueryCache } from "./query-cache.ts";

/** An inner embedder that records its calls and answers only when told to. */
function controlledEmbedder() {
  const calls: string[][] = [];
  const pending: (() => void)[] = [];
  const inner: Embedder = {
    modelId: "test-model",
    dimension: 2,
    embed(texts) {
      calls.push([...texts]);
      return new Promise((resolve, reject) => {
        pending.push(() =>
          texts.includes("fail")
            ? reject(new Error("inner failed"))
            : resolve(texts.map((t) => Float32Array.from([t.length, 1]))),
        );
      });
    },
    close: async () => {},
  };
  const answerAll = () => {
    for (const answer of pending.splice(0)) answer();
  };
  return { inner, calls, answerAll };
}

test("embedQuery caches by exact text and counts hits and misses", async () => {
  const { inner, calls, answerAll } = controlledEmbedder();
  const cached = withQueryCache(inner, { max: 2 });
  assert.equal(cached.modelId, "test-model");
  assert.equal(cached.dimension, 2);

  const first = cached.embedQuery("hello");
  answerAll();
  assert.deepEqual(Array.from(await first), [5, 1]);
  assert.deepEqual(Array.from(await cached.embedQuery("hello")), [5, 1]);
  const other = cached.embedQuery("Hello");
  answerAll();
  await other;
  assert.deepEqual(calls, [["hello"], ["Hello"]]);
  assert.deepEqual(cached.stats, { hits: 1, misses: 2, sharedHits: 0 });
});

test("concurrent identical misses share one inner call", async () => {
  const { inner, calls, answerAll } = controlledEmbedder();
  const cached = withQueryCache(inner, { max: 10 });
  const queries = [cached.embedQuery("same"), cached.embedQuery("same"), cached.embedQuery("same")];
  answerAll();
  const vectors = await Promise.all(queries);
  assert.deepEqual(calls, [["same"]]);
  assert.deepEqual(cached.stats, { hits: 2, misses: 1, sharedHits: 0 });
  for (const v of vectors) assert.deepEqual(Array.from(v), [4, 1]);
  vectors[0]?.fill(0); // a caller mutating its result must not corrupt the cache
  assert.deepEqual(Array.from(await cached.embedQuery("same")), [4, 1]);
});

test("a failed query is not cached, and embed() is passed through uncached", async () => {
  const { inner, calls, answerAll } = controlledEmbedder();
  const cached = withQueryCache(inner, { max: 10 });
  const failing = cached.embedQuery("fail");
  answerAll();
  await assert.rejects(failing, /inner failed/);
  const retry = cached.embedQuery("fail");
  answerAll();
  await assert.rejects(retry, /inner failed/);

  const ingest = [cached.embed(["a", "b"]), cached.embed(["a", "b"])];
  answerAll();
  await Promise.all(ingest);
  assert.deepEqual(calls, [["fail"], ["fail"], ["a", "b"], ["a", "b"]]);
});

test("the least recently used query is evicted at max", async () => {
  const { inner, calls, answerAll } = controlledEmbedder();
  const cached = withQueryCache(inner, { max: 2 });
  for (const text of ["a", "bb", "a", "ccc", "a", "bb"]) {
    const query = cached.embedQuery(text);
    answerAll();
    await query;
  }
  assert.deepEqual(calls, [["a"], ["bb"], ["ccc"], ["bb"]]);
});

test("max 0 turns the LRU off: only identical queries in flight are joined", async () => {
  const { inner, calls, answerAll } = controlledEmbedder();
  const cached = withQueryCache(inner, { max: 0 });
  const both = [cached.embedQuery("same"), cached.embedQuery("same")];
  answerAll();
  await Promise.all(both);
  const again = cached.embedQuery("same");
  answerAll();
  await again;
  assert.deepEqual(calls, [["same"], ["same"]]);
  assert.deepEqual(cached.stats, { hits: 1, misses: 2, sharedHits: 0 });
});
