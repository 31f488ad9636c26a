import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { runProcess } from "../testing/run-process.ts";
import type { Embedder } from "./embedder.ts";
import { createLocalEmbedder } from "./local-embedder.ts";

let embedder: Embedder;
before(async () => {
  embedder = await createLocalEmbedder();
});
after(() => embedder.close());

/** Dot product, which is the cosine for unit vectors. */
function cosine(a: Float32Array | undefined, b: Float32Array | undefined): number {
  assert.ok(a && b && a.length === b.length);
  return a.reduce((sum, x, i) => sum + x * (b[i] as number), 0);
}
const norm = (v: Float32Array) => Math.sqrt(cosine(v, v));
const sentences = (n: number) =>
  Array.from({ length: n }, (_, i) => `Memory ${i}: the user prefers topic number ${i % 9}.`);

function assertClose(actual: Float32Array[], expected: Float32Array[]) {
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) => {
    const e = expected[i] as Float32Array;
    const maxDiff = Math.max(...v.map((x, k) => Math.abs(x - (e[k] ?? 0))));
    assert.ok(maxDiff < 1e-4, `vector ${i} differs by ${maxDiff}`);
  });
}

test("loads USE-Lite and returns 512-d unit vectors", async () => {
  assert.equal(embedder.modelId, "use-lite-512");
  assert.equal(embedder.dimension, 512);
  const vectors = await embedder.embed(["The quick brown fox.", "", "Ünïcödé 😀 text"]);
  assert.equal(vectors.length, 3);
  for (const v of vectors) {
    assert.ok(v instanceof Float32Array);
    assert.equal(v.length, 512);
    assert.ok(Math.abs(norm(v) - 1) < 1e-5, `norm ${norm(v)}`);
  }
  assert.deepEqual(await embedder.embed([]), []);
});

test("similar sentences score higher than unrelated ones", async () => {
  const cases = [
    [
      "How do I reset my password?",
      "I forgot my password and need to change it.",
      "The weather in Paris is sunny today.",
    ],
    [
      "My dog loves playing fetch in the park.",
      "Our puppy enjoys chasing balls outside.",
      "The quarterly tax report is due on Friday.",
    ],
    [
      "The user is allergic to peanuts.",
      "She cannot eat nuts because of an allergy.",
      "The server runs on port 8080.",
    ],
  ];
  for (const texts of cases) {
    const [anchor, similar, unrelated] = await embedder.embed(texts);
    const near = cosine(anchor, similar);
    const far = cosine(anchor, unrelated);
    assert.ok(
      near > far + 0.2,
      `${texts[0]} similar ${near.toFixed(3)}, unrelated ${far.toFixed(3)}`,
    );
  }
});

test("50 concurrent single calls get the same vectors as one-at-a-time calls", async () => {
  const texts = sentences(50);
  const oneByOne: Float32Array[] = [];
  for (const t of texts) oneByOne.push(...(await embedder.embed([t])));
  const concurrent = await Promise.all(texts.map((t) => embedder.embed([t])));
  assert.ok(concurrent.every((vs) => vs.length === 1));
  assertClose(concurrent.flat(), oneByOne);
});

test("calls larger than a batch, mixed with single calls, keep their own order", async () => {
  const big = sentences(150);
  const expectedBig = await embedder.embed(big);
  const [gotBig, ...singles] = await Promise.all([
    embedder.embed(big),
    ...big.slice(0, 10).map((t) => embedder.embed([t])),
  ]);
  assertClose(gotBig as Float32Array[], expectedBig);
  assertClose(singles.flat(), expectedBig.slice(0, 10));
});

test("a batch of mixed lengths, split into bounded calls, gets each text's own vector", async () => {
  // Short and long texts (a long one alone exceeds a call's padded-size cap with a few others).
  const texts = Array.from({ length: 40 }, (_, i) =>
    i % 4 === 0
      ? `Chapter ${i}. ${"The user told a long story about the trip. ".repeat(20)}`
      : `ok ${i}`,
  );
  const oneByOne: Float32Array[] = [];
  for (const t of texts) oneByOne.push(...(await embedder.embed([t])));
  assertClose(await embedder.embed(texts), oneByOne);
});

test("the event loop keeps running while a large batch is embedded", async () => {
  let last = performance.now();
  let maxGap = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 10);
  try {
    await embedder.embed(sentences(500));
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks > 10, `only ${ticks} ticks`);
  assert.ok(maxGap < 100, `event loop blocked for ${maxGap.toFixed(0)} ms`);
});

test("close() ends the worker so the process can exit", async (t) => {
  const moduleUrl = new URL("./local-embedder.ts", import.meta.url).href;
  const script = `
    const { createLocalEmbedder } = await import(${JSON.stringify(moduleUrl)});
    const embedder = await createLocalEmbedder();
    await embedder.embed(["hello"]);
    await embedder.close();
    await embedder.embed(["again"]).catch((err) => console.log(err.message));`;
  // A file, not --eval: workers inherit execArgv, and --input-type is rejected in a worker.
  const file = join(await mkdtemp(join(tmpdir(), "engram-embed-")), "close.mjs");
  await writeFile(file, script);
  t.after(() => rm(dirname(file), { recursive: true, force: true }));
  const { code, stdout, stderr } = await runProcess(process.execPath, ["--import", "tsx", file], {
    timeoutMs: 30_000,
  });
  assert.equal(code, 0, stderr);
  assert.match(stdout, /local embedder is closed/);
});
