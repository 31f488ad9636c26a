import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import type { LlmConfig } from "../inference/create-engine.ts";
import { ask, type ChatRig, startChatRig, testAgent } from "../testing/chat-rig.ts";
import { type FakeOpenAI, startFakeOpenAI } from "../testing/fake-openai.ts";

// The semantic cache and single flight, through the real services with the model as the fake
// OpenAI server: a hit costs nothing and asks no model; no hit across agents, agent versions,
// tenants or visitors' memories; uploads and deletions invalidate; identical concurrent
// questions share one generation.

const POLICY = `# Returns

You can return any item within 30 days of delivery. Refunds are paid to the original card within five business days.`;
const QUESTION = "How many days do I have to return an item?";

describe("chat engine, semantic cache and single flight", () => {
  let rig: ChatRig;
  let fake: FakeOpenAI;
  let llm: LlmConfig;
  before(async () => {
    [rig, fake] = await Promise.all([startChatRig(), startFakeOpenAI()]);
    llm = { baseUrl: fake.baseUrl, model: "m", timeoutMs: 30_000, maxRetries: 0, prices: {} };
    // Every request gets a streamed answer naming its number, so answers can be told apart.
    fake.setHandler(() => ({
      stream: [`Answer ${fake.requests.length}. `, "Thirty days [1]."],
      usage: { prompt_tokens: 100, completion_tokens: 6 },
    }));
  });
  after(async () => {
    await Promise.all([rig.close(), fake.close()]);
  });
  beforeEach(() => fake.reset());

  async function setup(plan: object = {}) {
    const ctx = await rig.tenant(plan);
    await rig.addDocument(ctx, "policies.md", POLICY);
    return { ctx, chat: rig.engine({ llm }) };
  }

  test("the same or a very similar standalone question is answered from the cache", async () => {
    const { ctx, chat } = await setup();
    const agent = testAgent();
    const first = await ask(chat, ctx, { agent, message: QUESTION });
    assert.equal(first.outcome.cached, false);
    assert.equal(first.outcome.mode, "llm");
    const again = await ask(chat, ctx, { agent, message: QUESTION });
    assert.equal(fake.requests.length, 1, "no second model call");
    assert.equal(again.outcome.cached, true);
    assert.equal(again.outcome.mode, "llm");
    assert.equal(again.outcome.text, first.outcome.text);
    assert.deepEqual(again.outcome.citations, first.outcome.citations);
    assert.deepEqual(again.outcome.usage, { tokens_in: 0, tokens_out: 0, cost_usd: 0 });
    assert.deepEqual(again.outcome.calls, []);
    assert.equal(again.events[0]?.event, "citations");
    assert.ok(again.deltas.length >= 2, "replayed as deltas");
    assert.equal(again.deltas.join(""), first.outcome.text);
    assert.ok(again.outcome.ttftMs !== null);
    // Case and spacing make no difference to the embedding's similarity.
    const loose = await ask(chat, ctx, {
      agent,
      message: "  how many days do I have to return an ITEM? ",
    });
    assert.equal(loose.outcome.cached, true);
    // Another question is not answered from the cache.
    const other = await ask(chat, ctx, { agent, message: "When are refunds paid?" });
    assert.equal(other.outcome.cached, false);
    assert.equal(fake.requests.length, 2);
  });

  test("never across agents, agent versions or tenants", async () => {
    const { ctx, chat } = await setup();
    const agent = testAgent();
    await ask(chat, ctx, { agent, message: QUESTION });
    const otherAgent = await ask(chat, ctx, { agent: testAgent(), message: QUESTION });
    assert.equal(otherAgent.outcome.cached, false);
    const changed = await ask(chat, ctx, { agent: { ...agent, version: 2 }, message: QUESTION });
    assert.equal(changed.outcome.cached, false);
    // Another tenant with the same document, the same agent id and the same question.
    const { ctx: other } = await setup();
    const otherTenant = await ask(chat, other, { agent, message: QUESTION });
    assert.equal(otherTenant.outcome.cached, false);
    assert.equal(fake.requests.length, 4);
  });

  test("a visitor's memory-based answer is never served to another; shared answers are", async () => {
    const { ctx, chat } = await setup();
    await rig.remember(ctx, "carol", ["Carol bought her kettle on 3 March and wants to return it"]);
    const agent = testAgent();
    const q = "Can I still return my kettle?";
    const carol = await ask(chat, ctx, { agent, message: q, userId: "carol" });
    assert.equal(carol.outcome.cached, false);
    assert.match(fake.requests[0]?.messages[1]?.content ?? "", /Carol bought her kettle/);
    const dave = await ask(chat, ctx, { agent, message: q, userId: "dave" });
    assert.equal(dave.outcome.cached, false, "Carol's answer is not Dave's");
    assert.doesNotMatch(fake.requests[1]?.messages[1]?.content ?? "", /Carol/);
    // Erin has no memories either: Dave's answer (no memories in it) is shared.
    const erin = await ask(chat, ctx, { agent, message: q, userId: "erin" });
    assert.equal(erin.outcome.cached, true);
    assert.equal(erin.outcome.text, dave.outcome.text);
    const anonymous = await ask(chat, ctx, { agent, message: q });
    assert.equal(anonymous.outcome.cached, true);
    const carolAgain = await ask(chat, ctx, { agent, message: q, userId: "carol" });
    assert.equal(carolAgain.outcome.cached, true);
    assert.equal(carolAgain.outcome.text, carol.outcome.text);
    assert.equal(fake.requests.length, 2);
  });

  test("a document becoming searchable or being deleted invalidates the project's answers", async () => {
    const { ctx, chat } = await setup();
    const agent = testAgent();
    await ask(chat, ctx, { agent, message: QUESTION });
    assert.equal((await ask(chat, ctx, { agent, message: QUESTION })).outcome.cached, true);
    const doc = await rig.addDocument(ctx, "extra.txt", "Returns of opened items take 14 days.");
    const afterUpload = await ask(chat, ctx, { agent, message: QUESTION });
    assert.equal(afterUpload.outcome.cached, false);
    assert.equal((await ask(chat, ctx, { agent, message: QUESTION })).outcome.cached, true);
    await rig.deleteDocument(ctx, doc);
    assert.equal((await ask(chat, ctx, { agent, message: QUESTION })).outcome.cached, false);
    await chat.invalidateKnowledge(ctx.tenantId, ctx.projectId);
    assert.equal((await ask(chat, ctx, { agent, message: QUESTION })).outcome.cached, false);
    // Another tenant's change leaves this one's answers alone.
    const { ctx: other } = await setup();
    await chat.invalidateKnowledge(other.tenantId, other.projectId);
    assert.equal((await ask(chat, ctx, { agent, message: QUESTION })).outcome.cached, true);
  });

  test("not cached: questions with history, answers cut by the budget, a TTL of 0, expired answers", async () => {
    const { ctx, chat } = await setup();
    const agent = testAgent();
    const history = [{ role: "user" as const, text: "Hi" }];
    await ask(chat, ctx, { agent, message: QUESTION, history });
    assert.equal(
      (await ask(chat, ctx, { agent, message: QUESTION, history })).outcome.cached,
      false,
    );
    const off = await setup({ cache_ttl_seconds: 0 });
    await ask(off.chat, off.ctx, { agent, message: QUESTION });
    assert.equal(
      (await ask(off.chat, off.ctx, { agent, message: QUESTION })).outcome.cached,
      false,
    );
    const short = await setup({ cache_ttl_seconds: 1 });
    await ask(short.chat, short.ctx, { agent, message: QUESTION });
    assert.equal(
      (await ask(short.chat, short.ctx, { agent, message: QUESTION })).outcome.cached,
      true,
    );
    await new Promise((r) => setTimeout(r, 1_100));
    assert.equal(
      (await ask(short.chat, short.ctx, { agent, message: QUESTION })).outcome.cached,
      false,
    );
    // $1 per output token and a $2 ceiling: cut, so not kept.
    const priced = await rig.tenant({ request_cost_ceiling_usd: 2 });
    await rig.addDocument(priced, "policies.md", POLICY);
    const pricey = rig.engine({
      llm: { ...llm, prices: { m: { input_per_mtok: 0, output_per_mtok: 1_000_000 } } },
    });
    const cut = await ask(pricey, priced, { agent, message: QUESTION });
    assert.equal(cut.outcome.terminated, true);
    assert.equal((await ask(pricey, priced, { agent, message: QUESTION })).outcome.cached, false);
  });

  /** Resolves once the model has received `n` requests (the generation is under way). */
  async function modelAsked(n: number) {
    while (fake.requests.length < n) await new Promise((r) => setTimeout(r, 5));
  }

  test("identical concurrent questions share one generation", async () => {
    const { ctx, chat } = await setup();
    const agent = testAgent();
    fake.setHandler(() => ({ stream: ["One ", "shared ", "answer [1]."], chunkDelayMs: 200 }));
    try {
      const first = ask(chat, ctx, { agent, message: QUESTION });
      // The second asks once the first is streaming: it gets what was sent so far, then the rest.
      await modelAsked(1);
      const second = ask(chat, ctx, { agent, message: `${QUESTION.toUpperCase()}  ` });
      const third = ask(chat, ctx, { agent, message: QUESTION, userId: "frank" });
      const [a, b, c] = await Promise.all([first, second, third]);
      assert.equal(fake.requests.length, 1, "one model call for three askers");
      assert.equal(a.outcome.cached, false);
      assert.equal(a.outcome.calls.length, 1);
      for (const joiner of [b, c]) {
        assert.equal(joiner.outcome.cached, true);
        assert.deepEqual(joiner.outcome.usage, { tokens_in: 0, tokens_out: 0, cost_usd: 0 });
        assert.deepEqual(joiner.outcome.calls, []);
        assert.deepEqual(joiner.events, a.events);
        assert.equal(joiner.outcome.text, "One shared answer [1].");
      }
      // The first asker going away (once the second has joined) does not cut the second's answer.
      const leaving = new AbortController();
      const question = "Do refunds go back to my card?";
      const leader = chat.answer(
        ctx,
        { agent, message: question, history: [], budgetLeftUsd: null, signal: leaving.signal },
        () => {},
      );
      await modelAsked(2);
      let heard = "";
      const stays = await chat.answer(
        ctx,
        { agent, message: question, history: [], budgetLeftUsd: null },
        (e) => {
          leaving.abort();
          if (e.event === "delta") heard += e.data.text;
        },
      );
      assert.equal(stays.text, "One shared answer [1].");
      assert.equal(heard, stays.text);
      assert.equal(stays.cached, true);
      assert.equal((await leader).text, "One shared answer [1].");
      assert.equal(fake.requests.length, 2);
      fake.reset();
      // Different questions at once are generated apart.
      const [x, y] = await Promise.all([
        ask(chat, ctx, { agent, message: "When are refunds paid?" }),
        ask(chat, ctx, { agent, message: "Where do orders ship from?" }),
      ]);
      assert.equal(x.outcome.cached || y.outcome.cached, false);
      assert.equal(fake.requests.length, 2);
    } finally {
      fake.setHandler(() => ({ stream: [`Answer ${fake.requests.length}. `, "Thirty days [1]."] }));
    }
  });
});
