import assert from "node:assert/strict";
import { test } from "node:test";
import type { Embedder } from "./embedder.ts";
import { createWorkerEmbedder } from "./local-embedder.ts";

// fixtures/echo-worker.ts answers each text with [batch size, request id, Number(text)].
const echoWorker = new URL("./fixtures/echo-worker.ts", import.meta.url);
const numbers = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => String(from + i));

async function withEcho(batchSize: number, run: (embedder: Embedder) => Promise<void>) {
  const embedder = await createWorkerEmbedder(echoWorker, { batchSize });
  try {
    await run(embedder);
  } finally {
    await embedder.close();
  }
}

test("concurrent single calls are coalesced into full batches, each caller gets its own vector", () =>
  withEcho(16, async (embedder) => {
    const results = await Promise.all(numbers(0, 50).map((t) => embedder.embed([t])));
    const vectors = results.map((vs) => {
      assert.equal(vs.length, 1);
      return Array.from(vs[0] as Float32Array);
    });
    assert.deepEqual(
      vectors.map(([, , text]) => text),
      numbers(0, 50).map(Number),
    );
    assert.deepEqual(
      vectors.map(([size]) => size),
      [...Array(48).fill(16), 2, 2],
    );
  }));

test("a long call is split into full batches; a short call made meanwhile never waits for them", async () => {
  // 20 ms a text, like a model: one batch of 64 keeps its worker busy for 1.3 s.
  const embedder = await createWorkerEmbedder(
    new URL("./fixtures/slow-worker.ts", import.meta.url),
    {
      batchSize: 64,
    },
  );
  try {
    const big = embedder.embed(numbers(0, 200));
    await new Promise((r) => setTimeout(r, 100)); // the first batch of 64 is in flight now
    const started = performance.now();
    const [query] = await embedder.embed(["7"]);
    const waited = performance.now() - started;
    assert.equal(query?.[2], 7);
    assert.equal(query?.[0], 1, "the query rides alone, not in a batch of the long call's texts");
    assert.ok(waited < 600, `the query waited ${Math.round(waited)} ms behind the long call`);
    const vectors = await big;
    assert.deepEqual(
      vectors.map((v) => v[2]),
      numbers(0, 200).map(Number),
    );
    assert.deepEqual([...new Set(vectors.map((v) => v[0]))], [64, 8]);
  } finally {
    await embedder.close();
  }
});

test("long calls are served whole, first come first served", () =>
  withEcho(64, async (embedder) => {
    const [a, b] = await Promise.all([
      embedder.embed(numbers(0, 200)),
      embedder.embed(numbers(1000, 200)),
    ]);
    const lastOfA = Math.max(...a.map((v) => v[1] as number));
    const firstOfB = Math.min(...b.map((v) => v[1] as number));
    // They may share the request where A ends, but B never starts before A's last request.
    assert.ok(firstOfB >= lastOfA, `B started in request ${firstOfB}, A ended in ${lastOfA}`);
  }));

test("an error for one input rejects only the call that sent it", () =>
  withEcho(64, async (embedder) => {
    const [a, bad, c] = await Promise.allSettled([
      embedder.embed(["1"]),
      embedder.embed(["2", "bad"]),
      embedder.embed(["3"]),
    ]);
    assert.equal(a.status, "fulfilled");
    assert.equal(c.status, "fulfilled");
    assert.equal(bad.status, "rejected");
    assert.match(String(bad.reason), /local embedding failed: cannot embed this input/);
  }));

test("a worker crash rejects pending calls and the next call starts a new worker", () =>
  withEcho(64, async (embedder) => {
    const settled = await Promise.allSettled([embedder.embed(["crash"]), embedder.embed(["1"])]);
    for (const result of settled) {
      assert.equal(result.status, "rejected");
      assert.match(String(result.reason), /local embedding worker crashed: simulated worker crash/);
    }
    const [vector] = await embedder.embed(["5"]);
    assert.equal(vector?.[2], 5);
  }));

test("a model that cannot load fails creation with a clear error", async () => {
  const failing = new URL("./fixtures/failing-worker.ts", import.meta.url);
  await assert.rejects(createWorkerEmbedder(failing), {
    message: "local embedding model use-lite-512 failed to load: model.json not found",
  });
  const missing = new URL("./fixtures/no-such-worker.ts", import.meta.url);
  await assert.rejects(
    createWorkerEmbedder(missing),
    /use-lite-512 failed to load: .*no-such-worker/,
  );
});

test("embed() after close() rejects", () =>
  withEcho(64, async (embedder) => {
    await embedder.close();
    await assert.rejects(embedder.embed(["1"]), /local embedder is closed/);
  }));
