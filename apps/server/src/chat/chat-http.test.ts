import assert from "node:assert/strict";
import { after, beforeEach, describe, test } from "node:test";
import { EngramClient } from "@engram/sdk";
import { startFakeOpenAI } from "../testing/fake-openai.ts";
import { startTestServer } from "../testing/test-server.ts";

// Chat over HTTP and WebSocket in LLM mode: a real server whose LLM is a local server speaking
// OpenAI's streaming protocol. The engine's own cases are in chat-llm.test.ts and
// chat-cache.test.ts; here, what the API makes of them: the stream relayed as it comes, fallback
// and budget cut-off recorded in usage and metrics, a failure midway as an `error` event, and the
// semantic cache through the API (hits, invalidation by an upload, never across agents or tenants).

const fake = await startFakeOpenAI();
const PRICES = {
  // A dollar per output token: a $20 budget is spent within a few dozen tokens.
  primary: { input_per_mtok: 1_000, output_per_mtok: 1_000_000 },
  fallback: { input_per_mtok: 1_000, output_per_mtok: 1_000 },
};
const srv = await startTestServer({
  ENGRAM_LLM_BASE_URL: fake.baseUrl,
  ENGRAM_LLM_MODEL: "primary",
  ENGRAM_LLM_FALLBACK_MODEL: "fallback",
  ENGRAM_LLM_MAX_RETRIES: "0",
  ENGRAM_LLM_PRICES: JSON.stringify(PRICES),
  ENGRAM_CHAT_FIRST_TOKEN_TIMEOUT_MS: "1500",
  ENGRAM_CHAT_STALL_TIMEOUT_MS: "1500",
  // Memory inference stays offline; agents still answer with the LLM.
  ENGRAM_INFERENCE_ENGINE: "local",
});
after(async () => {
  await srv.close();
  await fake.close();
});

const POLICY = `# Returns

You can return any item within 30 days of delivery. Refunds are paid to the original card within five business days.`;

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
type Event = { event: string; data: any; at: number };

async function tenantWithDocs(overrides: object = {}) {
  const created = await srv.admin.createTenant({ name: "chat-http", overrides });
  const client = new EngramClient({ baseUrl: srv.url, token: created.key.key });
  const doc = await client.knowledge.createDocument({ filename: "returns.md", text: POLICY });
  await client.knowledge.waitForJob(doc.job_id);
  const agent = await client.agents.createAgent({ name: "Support", instructions: "Be brief." });
  return { key: created.key.key, client, agent };
}

/** A streamed chat, each event with the time it arrived. */
async function stream(key: string, agentId: string, body: object): Promise<Event[]> {
  const started = performance.now();
  const res = await fetch(new URL(`v1/agents/${agentId}/chat`, srv.url), {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200);
  assert.ok(res.body);
  const events: Event[] = [];
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null");
      events.push({ event, data, at: performance.now() - started });
    }
  }
  return events;
}

const deltas = (events: Event[]) =>
  events
    .filter((e) => e.event === "delta")
    .map((e) => e.data.text)
    .join("");
const done = (events: Event[]) => events.find((e) => e.event === "done")?.data;

describe("chat over HTTP with an LLM", () => {
  beforeEach(() => {
    fake.reset();
    fake.setHandler(undefined);
  });

  test("the model's stream is relayed as it comes, cited, and recorded with its cost", async () => {
    const t = await tenantWithDocs();
    fake.enqueue({
      stream: ["You have ", "30 days ", "to return ", "an item [1]."],
      chunkDelayMs: 150,
      usage: { prompt_tokens: 200, completion_tokens: 8 },
    });
    const events = await stream(t.key, t.agent.id, {
      message: "How long can I return an item?",
      user_id: "u1",
    });
    assert.deepEqual(
      events.map((e) => e.event),
      ["conversation", "citations", "delta", "delta", "delta", "delta", "done"],
    );
    assert.equal(deltas(events), "You have 30 days to return an item [1].");
    const deltaTimes = events.filter((e) => e.event === "delta").map((e) => e.at);
    assert.ok(
      (deltaTimes.at(-1) as number) - (deltaTimes[0] as number) >= 300,
      "deltas arrive as the model sends them, not all at the end",
    );
    assert.equal(events[1]?.data.items[0]?.title, "returns.md");
    const d = done(events);
    assert.equal(d.mode, "llm");
    assert.equal(d.cached, false);
    assert.deepEqual(d.usage, { tokens_in: 200, tokens_out: 8, cost_usd: 8.2 });
    const request = fake.requests[0];
    assert.equal(request?.model, "primary");
    assert.equal(request?.body.stream, true);
    assert.match(JSON.stringify(request?.messages), /30 days of delivery/);
    assert.match(JSON.stringify(request?.messages), /Be brief\./);

    const conversation = await t.client.agents.getConversation(events[0]?.data.conversation_id);
    assert.deepEqual(conversation.usage, d.usage);
    assert.equal(conversation.messages[1]?.text, deltas(events));
    const usage = await t.client.getUsage();
    assert.equal(usage.chat.answers, 1);
    assert.equal(usage.chat.cost_usd, 8.2);
    assert.equal(usage.llm.spend_usd, 8.2, "counted against the LLM budget");
  });

  test("a failing primary falls back within the request; the fallback is counted", async () => {
    const t = await tenantWithDocs();
    fake.enqueue(
      { status: 500, body: { error: { message: "overloaded" } } },
      {
        stream: ["Thirty days."],
      },
    );
    const answer = await t.client.agents.chat(t.agent.id, { message: "Return window?" });
    assert.equal(answer.text, "Thirty days.");
    assert.equal(answer.mode, "llm");
    assert.deepEqual(
      fake.requests.map((r) => r.model),
      ["primary", "fallback"],
    );
    const usage = await t.client.getUsage();
    assert.equal(usage.chat.fallbacks, 1);
    const metrics = await (await fetch(new URL("metrics", srv.url))).text();
    assert.match(metrics, /^engram_chat_fallbacks_total [1-9]/m);
  });

  test("malformed chunks are skipped", async () => {
    const t = await tenantWithDocs();
    fake.enqueue({ stream: ["Thirty ", { raw: "{not json" }, "days."] });
    const answer = await t.client.agents.chat(t.agent.id, { message: "Return window?" });
    assert.equal(answer.text, "Thirty days.");
  });

  test("the tenant's LLM budget cuts the stream: terminated, and the spend recorded", async () => {
    const t = await tenantWithDocs({ llm_budget_usd: 20 });
    fake.enqueue({ stream: Array.from({ length: 200 }, (_, i) => `w${i} `) });
    const events = await stream(t.key, t.agent.id, { message: "Tell me everything about returns" });
    const d = done(events);
    assert.equal(d.terminated, true);
    assert.ok(d.usage.tokens_out > 0 && d.usage.tokens_out < 200, JSON.stringify(d.usage));
    assert.ok(d.usage.cost_usd >= 20, "it stopped at the budget, not before");
    const usage = await t.client.getUsage();
    assert.equal(usage.chat.terminated, 1);
    assert.ok(usage.llm.spend_usd >= 20);
    assert.equal(usage.llm.exhausted, true);
    // With the budget spent, the next answer does not call the model: it is extractive.
    const before = fake.requests.length;
    const next = await t.client.agents.chat(t.agent.id, { message: "How are refunds paid?" });
    assert.equal(next.mode, "extractive");
    assert.equal(fake.requests.length, before);
  });

  test("a model failing midway ends the stream with an error event; the question is kept", async () => {
    const t = await tenantWithDocs();
    fake.enqueue({ stream: ["Thirty ", "days "], end: "close" });
    const events = await stream(t.key, t.agent.id, { message: "Return window?" });
    assert.equal(events.at(-1)?.event, "error");
    assert.equal(events.at(-1)?.data.code, "service_unavailable");
    assert.match(events.at(-1)?.data.requestId, /^req_/);
    assert.equal(done(events), undefined);
    const c = await t.client.agents.getConversation(events[0]?.data.conversation_id);
    assert.deepEqual(
      c.messages.map((m) => m.role),
      ["user"],
    );
  });

  test("the WebSocket relays the same events in LLM mode", async () => {
    const t = await tenantWithDocs();
    fake.enqueue({ stream: ["Thirty ", "days."] });
    const url = new URL(`v1/agents/${t.agent.id}/ws`, srv.url);
    url.protocol = "ws:";
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${t.key}` } } as never);
    const frames: { event: string; data: { text?: string; mode?: string } }[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("error", () => reject(new Error("websocket failed")));
      ws.addEventListener("open", () => ws.send(JSON.stringify({ message: "Return window?" })));
      ws.addEventListener("message", (m) => {
        const frame = JSON.parse(String(m.data));
        frames.push(frame);
        if (frame.event === "done") resolve();
      });
    });
    ws.close();
    assert.deepEqual(
      frames.map((f) => f.event),
      ["conversation", "citations", "delta", "delta", "done"],
    );
    assert.equal(frames.at(-1)?.data.mode, "llm");
  });

  test("the semantic cache answers a repeated question, per agent and tenant, until the knowledge changes", async () => {
    const t = await tenantWithDocs();
    fake.setHandler(() => ({ stream: ["Thirty ", "days."] }));
    const first = await t.client.agents.chat(t.agent.id, {
      message: "How long can I return an item?",
    });
    assert.equal(first.cached, false);
    const again = await t.client.agents.chat(t.agent.id, {
      message: "how long can I return an item?",
    });
    assert.equal(again.cached, true);
    assert.equal(again.text, first.text);
    assert.deepEqual(again.usage, { tokens_in: 0, tokens_out: 0, cost_usd: 0 });
    assert.equal(fake.requests.length, 1, "the model was asked once");

    const other = await t.client.agents.createAgent({ name: "Other", instructions: "Be brief." });
    assert.equal(
      (await t.client.agents.chat(other.id, { message: "How long can I return an item?" })).cached,
      false,
      "never across agents",
    );
    const u = await tenantWithDocs();
    assert.equal(
      (await u.client.agents.chat(u.agent.id, { message: "How long can I return an item?" }))
        .cached,
      false,
      "never across tenants",
    );

    const doc = await t.client.knowledge.createDocument({
      filename: "update.md",
      text: "# Returns update\n\nFrom December, returns are accepted within 60 days.",
    });
    await t.client.knowledge.waitForJob(doc.job_id);
    const afterUpload = await t.client.agents.chat(t.agent.id, {
      message: "How long can I return an item?",
    });
    assert.equal(afterUpload.cached, false, "an upload voids the agent's cached answers");
    const usage = await t.client.getUsage();
    assert.equal(usage.chat.cached, 1);
    assert.equal(usage.chat.cache_hit_rate, 0.25, "1 of 4 answers");
  });
});
