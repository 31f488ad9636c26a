import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, test } from "node:test";
import { createOpenAIEmbedder, type OpenAIEmbedderOptions } from "./openai-embedder.ts";

const API_KEY = "sk-test-0123456789abcdef";
const MODEL = "text-embedding-3-small";
const DIM = 8;

/** The fake model's vector for a text: deterministic and deliberately not unit length. */
const rawEmbedding = (text: string) =>
  Array.from({ length: DIM }, (_, i) => ((text.length * 31 + i * 7) % 13) + 1);

function assertEmbeddingsOf(vectors: Float32Array[], texts: string[]) {
  assert.equal(vectors.length, texts.length);
  for (const [i, vector] of vectors.entries()) {
    const raw = rawEmbedding(texts[i] as string);
    const norm = Math.hypot(...raw);
    const close = raw.every((x, k) => Math.abs((vector[k] as number) - x / norm) < 1e-6);
    assert.ok(close, `vector ${i} is not the normalized embedding of its text`);
  }
}

// A local stand-in for the hosted API speaking the /v1/embeddings wire format. `script` lists
// what the next requests get instead of a 200: an HTTP status, or "hang" for no answer.
let requests: { authorization: string | undefined; body: Record<string, unknown> }[] = [];
let script: (number | "hang")[] = [];
const server = createServer(async (req, res) => {
  let text = "";
  for await (const chunk of req) text += chunk;
  const body = JSON.parse(text) as { input: string[] };
  requests.push({ authorization: req.headers.authorization, body });
  const reply = (status: number, payload: unknown) =>
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(payload));
  if (req.url !== "/v1/embeddings" || req.method !== "POST") return reply(404, {});
  if (req.headers.authorization !== `Bearer ${API_KEY}`) {
    // Some compatible servers echo the key back; the client must not pass it on.
    const message = `Incorrect API key provided: ${req.headers.authorization?.slice(7)}`;
    return reply(401, { error: { message, type: "invalid_request_error" } });
  }
  const step = script.shift();
  if (step === "hang") return;
  if (step) return reply(step, { error: { message: `upstream said ${step}` } });
  const data = body.input.map((t, index) => ({
    object: "embedding",
    index,
    embedding: rawEmbedding(t),
  }));
  data.reverse(); // answers may come in any order; clients must sort by index
  reply(200, { object: "list", data, model: MODEL, usage: { prompt_tokens: 1, total_tokens: 1 } });
});

let baseUrl = "";
before(async () => {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
after(() => server.close());
beforeEach(() => {
  [requests, script] = [[], []];
});

const embedder = (opts: Partial<OpenAIEmbedderOptions> = {}) =>
  createOpenAIEmbedder({ baseUrl, model: MODEL, apiKey: API_KEY, dimension: DIM, ...opts });

test("sends the OpenAI wire format and restores input order", async () => {
  const e = embedder();
  assert.equal(e.modelId, `openai:${MODEL}`);
  assert.equal(e.dimension, DIM);
  const texts = ["a", "bb", "ccc", "dddd"];
  assertEmbeddingsOf(await e.embed(texts), texts);
  assert.deepEqual(requests, [
    {
      authorization: `Bearer ${API_KEY}`,
      body: { model: MODEL, input: texts, encoding_format: "float" },
    },
  ]);
  assert.deepEqual(await e.embed([]), []);
  assert.equal(requests.length, 1, "no request for an empty call");
});

test("splits large calls into batches", async () => {
  const texts = Array.from({ length: 600 }, (_, i) => "x".repeat(1 + (i % 50)));
  assertEmbeddingsOf(await embedder({ batchSize: 256 }).embed(texts), texts);
  assert.deepEqual(
    requests.map((r) => (r.body.input as string[]).length),
    [256, 256, 88],
  );
});

test("a vector of the wrong dimension rejects with a clear error", async () => {
  await assert.rejects(embedder({ dimension: 1536 }).embed(["a"]), {
    message: `embedding model ${MODEL} returned 8-d vectors, expected 1536 (check the configured embedding dimension)`,
  });
});

test("a 500 and a 429 are retried", async () => {
  script = [500, 429];
  assertEmbeddingsOf(await embedder().embed(["a"]), ["a"]);
  assert.equal(requests.length, 3);
});

test("gives up after two retries, and does not retry a 400", async () => {
  script = [503, 503, 503];
  await assert.rejects(embedder().embed(["a"]), /embeddings failed: HTTP 503 .*upstream said 503/);
  assert.equal(requests.length, 3);
  script = [400];
  await assert.rejects(embedder().embed(["a"]), /HTTP 400/);
  assert.equal(requests.length, 4);
});

test("the API key never appears in an error message", async () => {
  const wrongKey = "sk-wrong-key-that-must-stay-secret";
  const echoed = await embedder({ apiKey: wrongKey })
    .embed(["a"])
    .catch((e: Error) => e);
  assert.ok(echoed instanceof Error);
  assert.match(echoed.message, /HTTP 401 .*Incorrect API key provided: \[redacted\]/);
  assert.ok(!echoed.message.includes(wrongKey));
  assert.equal(echoed.cause, undefined);
  // fetch itself quotes an invalid header value, key included.
  const quoted = await embedder({ apiKey: "sk-bad\nkey-secret" })
    .embed(["a"])
    .catch((e) => e);
  assert.match(String(quoted), /invalid header value/);
  assert.ok(!String(quoted).includes("key-secret"), String(quoted));
  // Without a key, no Authorization header is sent at all.
  await assert.rejects(embedder({ apiKey: undefined }).embed(["a"]), /HTTP 401/);
  assert.equal(requests.at(-1)?.authorization, undefined);
});

test("a slow server times out with a clear error", async () => {
  script = ["hang"];
  await assert.rejects(embedder({ timeoutMs: 100 }).embed(["a"]), /timed out after 100 ms/);
  server.closeAllConnections();
});
