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

test("a long call is split across batches; a short call queued behind it goes first", () =>
  withEcho(64, async (embedder) => {
    const [big, query] = await Promise.all([
      embedder.embed(numbers(0, 200)),
      embedder.embed(["7"]),
    ]);
    assert.deepEqual(
      big.map((v) => v[2]),
      numbers(0, 200).map(Number),
    );
    const firstBig = Math.min(...big.map((v) => v[1] as number));
    assert.ok((query[0]?.[1] as number) <= firstBig, "the query rides no later than the long call");
  }));

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

test("long texts of large calls are batched up to the character budget, at least one per batch; small calls still ride along", async () => {
  const embedder = await createWorkerEmbedder(echoWorker, { batchSize: 64, largeChars: 2_500 });
  try {
    // 1,000 characters each (the number, zero-padded), so two fit the budget and a third does not.
    const long = (n: number) => String(n).padStart(1_000, "0");
    const [chunks, query] = await Promise.all([
      embedder.embed(Array.from({ length: 9 }, (_, i) => long(i))),
      embedder.embed(["7"]),
    ]);
    assert.deepEqual(
      chunks.map((v) => v[2]),
      Array.from({ length: 9 }, (_, i) => i),
    );
    // The query shares the first request with two chunks: three texts.
    assert.equal(query[0]?.[0], 3);
    assert.deepEqual(
      chunks.map((v) => v[0]),
      [3, 3, 2, 2, 2, 2, 2, 2, 1],
      "two chunks a batch (the last one alone)",
    );
    // A text over the budget goes alone rather than never.
    const oversized = await embedder.embed(Array.from({ length: 9 }, () => "9".repeat(3_000)));
    assert.deepEqual(
      oversized.map((v) => v[0]),
      Array(9).fill(1),
    );
  } finally {
    await embedder.close();
  }
});
