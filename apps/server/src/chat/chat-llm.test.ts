import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { countTokens } from "gpt-tokenizer";
import type { LlmConfig } from "../inference/create-engine.ts";
import { AppError } from "../lib/errors.ts";
import { ask, type ChatRig, startChatRig, testAgent } from "../testing/chat-rig.ts";
import { type FakeOpenAI, startFakeOpenAI } from "../testing/fake-openai.ts";
import { NOTHING_FOUND } from "./chat-extractive.ts";

// LLM answers through the real services, the model a local server speaking OpenAI's streaming
// wire protocol (testing/fake-openai.ts): streamed deltas, the prompt, fallback on a failing,
// hanging or empty primary, malformed chunks, a stall after deltas, budget cut-offs, secrets.

const POLICY = `# Returns

You can return any item within 30 days of delivery. Refunds are paid to the original card within five business days.`;

const QUESTION = "How many days do I have to return an item?";
const SECRET = "sk-test-secret-0123456789abcdef";

describe("chat engine, llm", () => {
  let rig: ChatRig;
  let fake: FakeOpenAI;
  let llm: LlmConfig;
  before(async () => {
    [rig, fake] = await Promise.all([startChatRig(), startFakeOpenAI({ apiKey: SECRET })]);
    llm = {
      baseUrl: fake.baseUrl,
      apiKey: SECRET,
      model: "primary-model",
      fallbackModel: "fallback-model",
      timeoutMs: 30_000,
      maxRetries: 0,
      prices: {},
    };
  });
  after(async () => {
    await Promise.all([rig.close(), fake.close()]);
  });
  beforeEach(() => fake.reset());

  /** A tenant with the returns policy, and a chat engine over the fake. */
  async function setup(over: { llm?: Partial<LlmConfig>; config?: object; plan?: object } = {}) {
    // No semantic cache unless a test asks: the same question is asked again and again.
    const ctx = await rig.tenant({ cache_ttl_seconds: 0, ...over.plan });
    await rig.addDocument(ctx, "policies.md", POLICY);
    const logs: string[] = [];
    const chat = rig.engine({
      llm: { ...llm, ...over.llm },
      config: { firstTokenTimeoutMs: 400, stallTimeoutMs: 400, ...over.config },
      log: { warn: (obj, msg) => void logs.push(`${msg} ${JSON.stringify(obj)}`) },
    });
    return { ctx, chat, logs };
  }

  test("streams the model's answer as deltas, with the sources, history and plan limits in the request", async () => {
    const { ctx, chat } = await setup({
      llm: { prices: { "primary-model": { input_per_mtok: 2, output_per_mtok: 8 } } },
      plan: { max_tokens: 300 },
    });
    fake.enqueue({
      stream: ["You have ", "30 days ", "to return it [1]."],
      usage: { prompt_tokens: 250, completion_tokens: 9 },
    });
    const heard = await ask(chat, ctx, {
      agent: testAgent({ instructions: "Always answer as Robo." }),
      message: QUESTION,
      history: [
        { role: "user", text: "Hello" },
        { role: "assistant", text: "Hi, how can I help?" },
      ],
    });
    assert.deepEqual(heard.deltas, ["You have ", "30 days ", "to return it [1]."]);
    const { outcome } = heard;
    assert.equal(outcome.mode, "llm");
    assert.equal(outcome.text, "You have 30 days to return it [1].");
    assert.equal(outcome.terminated, false);
    assert.equal(outcome.fallbackUsed, false);
    // The server's usage (the last chunk) is what is billed.
    assert.deepEqual(outcome.usage, {
      tokens_in: 250,
      tokens_out: 9,
      cost_usd: (250 * 2 + 9 * 8) / 1_000_000,
    });
    assert.equal(outcome.calls.length, 1);
    assert.equal(outcome.calls[0]?.purpose, "chat");
    assert.equal(outcome.calls[0]?.model, "primary-model");
    assert.equal(outcome.citations[0]?.title, "policies.md");
    assert.equal(heard.events[0]?.event, "citations");

    const [req] = fake.requests;
    assert.ok(req);
    assert.equal(req.body.stream, true);
    assert.deepEqual(req.body.stream_options, { include_usage: true });
    assert.equal(req.body.max_tokens, 300);
    assert.equal(req.model, "primary-model");
    const system = req.messages.filter((m) => m.role === "system").map((m) => m.content);
    assert.match(system[0] ?? "", /^Always answer as Robo\./);
    assert.match(system[0] ?? "", /\[1\]/);
    assert.match(system[1] ?? "", /\[1\] \(policies\.md, Returns\)\n.*30 days of delivery/);
    assert.deepEqual(
      req.messages.slice(2).map((m) => [m.role, m.content]),
      [
        ["user", "Hello"],
        ["assistant", "Hi, how can I help?"],
        ["user", QUESTION],
      ],
    );
  });

  test("models: the agent's, else the plan's primary, else ENGRAM_LLM_MODEL; the plan's fallback first", async () => {
    const { ctx, chat } = await setup({
      plan: { primary: "plan-primary", fallback: "plan-fallback" },
    });
    fake.enqueue({ content: "One [1]." }, { status: 500 }, { content: "Two [1]." });
    await ask(chat, ctx, { agent: testAgent({ model: "agent-model" }), message: QUESTION });
    const second = await ask(chat, ctx, { agent: testAgent(), message: QUESTION });
    assert.deepEqual(
      fake.requests.map((r) => r.model),
      ["agent-model", "plan-primary", "plan-fallback"],
    );
    assert.equal(second.outcome.fallbackUsed, true);
  });

  test("a failing primary (500) falls back within the request", async () => {
    const { ctx, chat } = await setup();
    fake.enqueue({ status: 500 }, { stream: ["From the ", "fallback [1]."] });
    const heard = await ask(chat, ctx, { agent: testAgent(), message: QUESTION });
    assert.equal(heard.outcome.mode, "llm");
    assert.equal(heard.outcome.text, "From the fallback [1].");
    assert.equal(heard.outcome.fallbackUsed, true);
    assert.deepEqual(
      fake.requests.map((r) => r.model),
      ["primary-model", "fallback-model"],
    );
    assert.deepEqual(
      heard.outcome.calls.map((c) => [c.model, c.tokensOut]),
      [
        ["primary-model", 0],
        ["fallback-model", 5],
      ],
    );
  });

  test("a primary that sends no first token in time, or only unreadable chunks, falls back", async () => {
    const { ctx, chat } = await setup();
    fake.enqueue("hang", { stream: ["Late but fine [1]."] });
    const started = performance.now();
    const hung = await ask(chat, ctx, { agent: testAgent(), message: QUESTION });
    assert.equal(hung.outcome.text, "Late but fine [1].");
    assert.equal(hung.outcome.fallbackUsed, true);
    assert.ok(performance.now() - started >= 400, "waited for the first-token timeout");
    // Headers at once, then keep-alive chunks without content: the first-token clock still runs.
    fake.enqueue(
      {
        stream: [{ raw: "{bad json" }, { waitMs: 300 }, { raw: "[not json" }, { waitMs: 300 }],
        end: "hang",
      },
      { stream: ["Fallback [1]."] },
    );
    const slow = await ask(chat, ctx, { agent: testAgent(), message: QUESTION });
    assert.equal(slow.outcome.text, "Fallback [1].");
    // A primary whose whole stream is unreadable.
    fake.enqueue({ stream: [{ raw: "{oops" }, { raw: "}" }] }, { stream: ["Readable [1]."] });
    const broken = await ask(chat, ctx, { agent: testAgent(), message: QUESTION });
    assert.equal(broken.outcome.text, "Readable [1].");
    assert.equal(broken.outcome.fallbackUsed, true);
  });

  test("unreadable chunks among good ones are skipped", async () => {
    const { ctx, chat } = await setup();
    fake.enqueue({
      stream: ["Thirty ", { raw: "{not json" }, { raw: '{"choices": 5}' }, "days [1]."],
    });
    const heard = await ask(chat, ctx, { agent: testAgent(), message: QUESTION });
    assert.equal(heard.outcome.text, "Thirty days [1].");
    assert.equal(heard.outcome.fallbackUsed, false);
    assert.equal(fake.requests.length, 1);
  });

  test("a slow model streams within the stall timeout; a stall after deltas ends with an error", async () => {
    const { ctx, chat } = await setup();
    fake.enqueue({ stream: ["Slow ", "but ", "steady [1]."], chunkDelayMs: 150 });
    const slow = await ask(chat, ctx, { agent: testAgent(), message: QUESTION });
    assert.equal(slow.outcome.text, "Slow but steady [1].");
    fake.reset();
    fake.enqueue({ stream: ["Half an ", "answer"], end: "hang" }, { stream: ["never asked"] });
    const deltas: string[] = [];
    await assert.rejects(
      chat.answer(
        ctx,
        { agent: testAgent(), message: QUESTION, history: [], budgetLeftUsd: null },
        (e) => {
          if (e.event === "delta") deltas.push(e.data.text);
        },
      ),
      (err) =>
        err instanceof AppError && err.code === "service_unavailable" && /400 ms/.test(err.message),
    );
    assert.deepEqual(deltas, ["Half an ", "answer"]);
    assert.equal(fake.requests.length, 1, "no fallback once deltas were sent");
    // A connection closed mid-answer: the same.
    fake.reset();
    fake.enqueue({ stream: ["Cut ", "off"], end: "close" });
    await assert.rejects(
      chat.answer(
        ctx,
        { agent: testAgent(), message: QUESTION, history: [], budgetLeftUsd: null },
        () => {},
      ),
      (err) => err instanceof AppError && err.code === "service_unavailable",
    );
  });

  test("every model failing: an extractive answer, the failed calls reported, no secret logged", async () => {
    const { ctx, chat, logs } = await setup({ llm: { apiKey: "sk-wrong-key-never-to-be-seen" } });
    // The fake refuses the key and echoes it back, as some servers do.
    const heard = await ask(chat, ctx, { agent: testAgent(), message: QUESTION });
    assert.equal(heard.outcome.mode, "extractive");
    assert.match(heard.outcome.text, /30 days of delivery/);
    assert.equal(heard.outcome.calls.length, 2);
    assert.equal(heard.outcome.fallbackUsed, true);
    assert.ok(logs.length > 0 && logs.some((l) => /401/.test(l)), logs.join("\n"));
    assert.ok(!logs.join("\n").includes("sk-wrong-key-never-to-be-seen"), logs.join("\n"));
    assert.ok(!logs.join("\n").includes(fake.baseUrl), "the endpoint is not named");
  });

  test("budget: the stream is cut where the cost reaches the request ceiling or the budget left", async () => {
    // $1 per output token, input free: the cap in dollars is the number of output tokens.
    const prices = { "primary-model": { input_per_mtok: 0, output_per_mtok: 1_000_000 } };
    const words = Array.from({ length: 40 }, (_, i) => `word${i} `);
    const { ctx, chat } = await setup({ llm: { prices }, plan: { request_cost_ceiling_usd: 6 } });
    fake.enqueue({ stream: words, chunkDelayMs: 5 });
    const capped = await ask(chat, ctx, { agent: testAgent(), message: QUESTION });
    const { outcome } = capped;
    assert.equal(outcome.terminated, true);
    assert.equal(outcome.mode, "llm");
    // Metered per delta as it arrives (a little above the joined text's count, never below).
    const tokens = capped.deltas.reduce((n, d) => n + countTokens(d), 0);
    const perWord = countTokens(words[0] ?? "");
    assert.ok(tokens >= 6 && tokens < 6 + perWord, `${tokens} tokens: ${outcome.text}`);
    assert.ok(countTokens(outcome.text) <= tokens);
    assert.equal(outcome.usage.tokens_out, tokens);
    assert.equal(outcome.usage.cost_usd, tokens);
    assert.ok(outcome.usage.tokens_in > 0, "the prompt is counted");
    assert.equal(outcome.calls[0]?.costUsd, tokens);
    assert.ok(outcome.text.length < words.join("").length);
    // The tenant's budget left, smaller than the ceiling, wins.
    fake.enqueue({ stream: words, chunkDelayMs: 5 });
    const budget = await ask(chat, ctx, {
      agent: testAgent(),
      message: QUESTION,
      budgetLeftUsd: 3,
    });
    assert.equal(budget.outcome.terminated, true);
    assert.ok(
      budget.outcome.usage.cost_usd >= 3 && budget.outcome.usage.cost_usd < 6,
      JSON.stringify(budget.outcome.usage),
    );
  });

  test("budget already spent, or too small for the prompt: no model call, an extractive answer", async () => {
    const prices = { "primary-model": { input_per_mtok: 1_000_000, output_per_mtok: 1_000_000 } };
    const { ctx, chat } = await setup({ llm: { prices } });
    const spent = await ask(chat, ctx, { agent: testAgent(), message: QUESTION, budgetLeftUsd: 0 });
    assert.equal(spent.outcome.mode, "extractive");
    assert.equal(spent.outcome.terminated, false);
    assert.match(spent.outcome.text, /30 days of delivery/);
    // $1 per prompt token: $5 cannot pay for the question.
    const small = await ask(chat, ctx, { agent: testAgent(), message: QUESTION, budgetLeftUsd: 5 });
    assert.equal(small.outcome.mode, "extractive");
    assert.deepEqual(small.outcome.calls, []);
    assert.equal(fake.requests.length, 0);
  });

  test("nothing relevant: the model is still asked, told there are no sources", async () => {
    const { ctx, chat } = await setup();
    fake.enqueue({ stream: ["I do not know."] });
    const heard = await ask(chat, ctx, {
      agent: testAgent(),
      message: "Which telescope shows Saturn's rings?",
    });
    assert.equal(heard.outcome.text, "I do not know.");
    assert.deepEqual(heard.outcome.citations, []);
    assert.match(fake.requests[0]?.messages[1]?.content ?? "", /Sources: none found/);
    assert.notEqual(heard.outcome.text, NOTHING_FOUND);
  });

  test("the visitor going away aborts the model's request", async () => {
    const { ctx, chat } = await setup();
    fake.enqueue({ stream: ["Never ", "finished ", "answer"], chunkDelayMs: 200 });
    const abort = new AbortController();
    const deltas: string[] = [];
    const answer = chat.answer(
      ctx,
      {
        agent: testAgent(),
        message: QUESTION,
        history: [],
        budgetLeftUsd: null,
        signal: abort.signal,
      },
      (e) => {
        if (e.event === "delta") {
          deltas.push(e.data.text);
          abort.abort();
        }
      },
    );
    await assert.rejects(
      answer,
      (err) => err instanceof AppError && err.code === "service_unavailable",
    );
    assert.deepEqual(deltas, ["Never "]);
  });
});
