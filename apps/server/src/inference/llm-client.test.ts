import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, test } from "node:test";
import { type FakeOpenAI, startFakeOpenAI } from "../testing/fake-openai.ts";
import { type ChatRequest, createLlmClient, type LlmClientOptions } from "./llm-client.ts";

const API_KEY = "sk-test-secret-0123456789abcdef";
const MODEL = "gpt-test-mini";
const FALLBACK = "gpt-test-large";
const PRICES = {
  [MODEL]: { input_per_mtok: 0.15, output_per_mtok: 0.6 },
  [FALLBACK]: { input_per_mtok: 2.5, output_per_mtok: 10 },
};

const request: ChatRequest = {
  purpose: "extract",
  promptVersion: "extract.v1",
  messages: [
    { role: "system", content: "You extract facts." },
    { role: "user", content: '{"messages":[]}' },
  ],
  schema: {
    name: "engram_extract",
    schema: { type: "object", properties: {}, required: [], additionalProperties: false },
  },
};

let fake: FakeOpenAI;
before(async () => {
  fake = await startFakeOpenAI({ apiKey: API_KEY });
});
after(() => fake.close());
beforeEach(() => fake.reset());

/** A logger keeping every entry, to check what reaches the logs. */
function recordingLog() {
  const entries: { level: string; obj: object; msg: string }[] = [];
  return {
    entries,
    debug: (obj: object, msg: string) => void entries.push({ level: "debug", obj, msg }),
    warn: (obj: object, msg: string) => void entries.push({ level: "warn", obj, msg }),
  };
}

const client = (opts: Partial<LlmClientOptions> = {}) =>
  createLlmClient({
    baseUrl: fake.baseUrl,
    model: MODEL,
    apiKey: API_KEY,
    prices: PRICES,
    maxBackoffMs: 20,
    ...opts,
  });

describe("LLM client", () => {
  test("sends chat completions with strict JSON-schema output and prices the call", async () => {
    fake.enqueue({
      content: { facts: [] },
      usage: { prompt_tokens: 1000, completion_tokens: 200 },
    });
    const result = await client().complete(request);
    assert.ok(result.ok);
    assert.equal(result.content, '{"facts":[]}');
    assert.equal(result.model, MODEL);
    assert.equal(result.calls.length, 1);
    const [call] = result.calls;
    assert.equal(call?.model, MODEL);
    assert.equal(call?.purpose, "extract");
    assert.equal(call?.tokensIn, 1000);
    assert.equal(call?.tokensOut, 200);
    // 1000 × 0.15 / 1e6 + 200 × 0.6 / 1e6
    assert.ok(Math.abs((call?.costUsd ?? 0) - 0.00027) < 1e-12, String(call?.costUsd));
    assert.ok((call?.latencyMs ?? -1) >= 0);
    const [sent] = fake.requests;
    assert.equal(sent?.model, MODEL);
    assert.deepEqual(sent?.messages, request.messages);
    assert.deepEqual(sent?.response_format, {
      type: "json_schema",
      json_schema: { name: "engram_extract", strict: true, schema: request.schema.schema },
    });
    assert.equal(sent?.headers.authorization, `Bearer ${API_KEY}`);
    assert.equal(sent?.headers["x-engram-prompt-version"], "extract.v1");
  });

  test("a model missing from the price table costs 0", async () => {
    fake.enqueue({ content: {}, usage: { prompt_tokens: 500, completion_tokens: 50 } });
    const result = await client({ model: "unpriced-model" }).complete(request);
    assert.ok(result.ok);
    assert.equal(result.calls[0]?.tokensIn, 500);
    assert.equal(result.calls[0]?.costUsd, 0);
  });

  test("429 with Retry-After is retried, and the failed attempt is recorded", async () => {
    fake.enqueue(
      { status: 429, headers: { "retry-after": "1" }, usage: null },
      { content: { ok: true }, usage: { prompt_tokens: 10, completion_tokens: 2 } },
    );
    const result = await client().complete(request);
    assert.ok(result.ok, result.ok ? "" : result.error);
    assert.equal(fake.requests.length, 2);
    assert.deepEqual(
      result.calls.map((c) => [c.model, c.tokensIn, c.tokensOut]),
      [
        [MODEL, 0, 0],
        [MODEL, 10, 2],
      ],
    );
  });

  test("500s exhaust the retries, then the fallback model answers; reported usage is billed", async () => {
    const usage = { prompt_tokens: 100, completion_tokens: 0 };
    fake.enqueue(
      { status: 500, usage },
      { status: 502, usage },
      { status: 503, usage },
      {
        content: { ok: true },
        usage: { prompt_tokens: 100, completion_tokens: 10 },
      },
    );
    const result = await client({ fallbackModel: FALLBACK, maxRetries: 2 }).complete(request);
    assert.ok(result.ok, result.ok ? "" : result.error);
    assert.equal(result.model, FALLBACK);
    assert.deepEqual(
      fake.requests.map((r) => r.model),
      [MODEL, MODEL, MODEL, FALLBACK],
    );
    assert.deepEqual(
      result.calls.map((c) => c.model),
      [MODEL, MODEL, MODEL, FALLBACK],
    );
    assert.ok(result.calls.slice(0, 3).every((c) => c.tokensIn === 100 && c.costUsd > 0));
    const last = result.calls[3];
    assert.ok(Math.abs((last?.costUsd ?? 0) - (100 * 2.5 + 10 * 10) / 1e6) < 1e-12);
  });

  test("exhausted retries without a fallback model fail with the statuses, never throwing", async () => {
    fake.enqueue({ status: 500 }, { status: 500 });
    const result = await client({ maxRetries: 1 }).complete(request);
    assert.equal(result.ok, false);
    assert.ok(!result.ok && /HTTP 500/.test(result.error), JSON.stringify(result));
    assert.ok(!result.ok && result.error.includes("(2 attempts)"), JSON.stringify(result));
    // The error reaches API clients (inference.fallback): no operator address in it.
    assert.ok(!result.ok && !result.error.includes("127.0.0.1"), JSON.stringify(result));
    assert.equal(result.calls.length, 2);
  });

  test("a client error (400) is not retried on the same model", async () => {
    fake.enqueue({ status: 400, body: { error: { message: "bad schema" } } });
    const result = await client({ maxRetries: 2 }).complete(request);
    assert.equal(result.ok, false);
    assert.equal(fake.requests.length, 1);
    assert.ok(!result.ok && result.error.includes("HTTP 400 bad schema"), JSON.stringify(result));
  });

  test("a timeout ends the attempt and moves to the fallback model", async () => {
    fake.enqueue("hang", { content: { ok: true } });
    const result = await client({ timeoutMs: 300, fallbackModel: FALLBACK }).complete(request);
    assert.ok(result.ok, result.ok ? "" : result.error);
    assert.deepEqual(
      fake.requests.map((r) => r.model),
      [MODEL, FALLBACK],
    );
    assert.equal(result.calls[0]?.tokensIn, 0);
  });

  test("a timeout without a fallback model fails saying so", async () => {
    fake.enqueue({ delayMs: 5_000, reply: { content: {} } });
    const result = await client({ timeoutMs: 300 }).complete(request);
    assert.equal(result.ok, false);
    assert.ok(
      !result.ok && result.error.includes("timed out after 300 ms"),
      JSON.stringify(result),
    );
    assert.equal(fake.requests.length, 1);
  });

  test("a refusal is a failure, not content", async () => {
    fake.enqueue({ refusal: "I can't help with that." });
    const result = await client().complete(request);
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.error.includes("refused"), JSON.stringify(result));
  });

  test("network errors are retried, then reported", async () => {
    const server = createServer((req) => req.socket.destroy());
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    try {
      const result = await client({
        baseUrl: `http://127.0.0.1:${port}/v1`,
        maxRetries: 1,
      }).complete(request);
      assert.equal(result.ok, false);
      assert.equal(result.calls.length, 2);
      assert.ok(!result.ok && result.error.includes("(2 attempts)"), JSON.stringify(result));
    } finally {
      server.close();
    }
  });

  test("the API key appears in no error and no log entry, even when the server echoes it", async () => {
    const wrongKey = "sk-wrong-secret-abcdef0123456789";
    const log = recordingLog();
    const result = await client({ apiKey: wrongKey, log, fallbackModel: FALLBACK }).complete(
      request,
    );
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.error.includes("HTTP 401"), JSON.stringify(result));
    assert.ok(!result.ok && result.error.includes("[redacted]"), JSON.stringify(result));
    const everything = JSON.stringify({ result, log: log.entries });
    assert.ok(!everything.includes(wrongKey), everything);
    assert.ok(!everything.includes(API_KEY), everything);
    assert.ok(log.entries.length >= 2, "each attempt is logged");
    assert.ok(
      log.entries.every(
        (e) => (e.obj as { promptVersion?: string }).promptVersion === "extract.v1",
      ),
    );
  });
});
