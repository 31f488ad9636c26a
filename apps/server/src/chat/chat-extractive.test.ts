import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ask, type ChatRig, startChatRig, testAgent } from "../testing/chat-rig.ts";
import { NOTHING_FOUND } from "./chat-extractive.ts";

// Extractive answers (no LLM configured): retrieval over real documents and memories through the
// real services, the agent's narrowing (collections, shared documents only, the visitor's
// memories), citations, and the fixed sentence when nothing is relevant.

const RETURNS = `# Returns

You can return any item within 30 days of delivery. Refunds are paid to the original card within five business days.

# Shipping

Orders ship from Lisbon. Delivery to Europe takes three to five days.`;

describe("chat engine, extractive", () => {
  let rig: ChatRig;
  before(async () => {
    rig = await startChatRig();
  });
  after(async () => {
    await rig.close();
  });

  test("answers with the relevant passages quoted, each with its [n] and citation", async () => {
    const ctx = await rig.tenant();
    const doc = await rig.addDocument(ctx, "policies.md", RETURNS);
    const chat = rig.engine();
    const heard = await ask(chat, ctx, {
      agent: testAgent(),
      message: "How many days do I have to return an item?",
    });
    assert.equal(heard.events[0]?.event, "citations", "citations come first");
    assert.ok(heard.deltas.length >= 3, `streamed in several deltas: ${heard.deltas.length}`);
    const { outcome } = heard;
    assert.equal(outcome.mode, "extractive");
    assert.equal(outcome.cached, false);
    assert.equal(outcome.terminated, false);
    assert.deepEqual(outcome.usage, { tokens_in: 0, tokens_out: 0, cost_usd: 0 });
    assert.deepEqual(outcome.calls, []);
    assert.equal(outcome.text, heard.deltas.join(""));
    assert.match(outcome.text, /30 days of delivery[^[]*\[1\]/);
    const first = outcome.citations[0];
    assert.ok(first, "a citation");
    assert.equal(first.document_id, doc);
    assert.equal(first.title, "policies.md");
    assert.equal(first.heading, "Returns");
    assert.ok(first.snippet.length > 0 && first.snippet.length <= 300);
    assert.match(first.snippet, /30 days/);
    assert.deepEqual(heard.citations, outcome.citations);
    assert.ok(outcome.ttftMs !== null && outcome.ttftMs >= 0);
  });

  test("nothing relevant: the fixed sentence, never an empty answer", async () => {
    const ctx = await rig.tenant();
    await rig.addDocument(ctx, "policies.md", RETURNS);
    const chat = rig.engine();
    const heard = await ask(chat, ctx, {
      agent: testAgent(),
      message: "Which telescope is best for watching Saturn's rings?",
    });
    assert.equal(heard.outcome.text, NOTHING_FOUND);
    assert.deepEqual(heard.outcome.citations, []);
    // A project with no knowledge at all answers the same.
    const empty = await rig.tenant();
    const none = await ask(chat, empty, { agent: testAgent(), message: "How do returns work?" });
    assert.equal(none.outcome.text, NOTHING_FOUND);
  });

  test("knowledge is the agent's collections only", async () => {
    const ctx = await rig.tenant();
    await rig.addDocument(ctx, "returns.md", RETURNS, { collection: "policies" });
    await rig.addDocument(
      ctx,
      "warranty.txt",
      "The warranty covers defects for two years from purchase.",
      { collection: "warranty" },
    );
    const chat = rig.engine();
    const q = "How long does the warranty cover defects?";
    const narrow = await ask(chat, ctx, {
      agent: testAgent({ knowledge: { collections: ["policies"] } }),
      message: q,
    });
    assert.ok(
      narrow.outcome.citations.every((c) => c.title === "returns.md"),
      JSON.stringify(narrow.outcome.citations),
    );
    assert.doesNotMatch(narrow.outcome.text, /two years/);
    const all = await ask(chat, ctx, { agent: testAgent(), message: q });
    assert.match(all.outcome.text, /two years/);
    const wide = await ask(chat, ctx, {
      agent: testAgent({ knowledge: { collections: ["warranty", "policies"] } }),
      message: q,
    });
    assert.match(wide.outcome.text, /two years/);
    const nothing = await ask(chat, ctx, {
      agent: testAgent({ knowledge: { collections: [] } }),
      message: q,
    });
    assert.equal(nothing.outcome.text, NOTHING_FOUND);
  });

  test("a document uploaded for a user, a session or another agent is never quoted", async () => {
    const ctx = await rig.tenant();
    const agent = testAgent();
    await rig.addDocument(
      ctx,
      "alice-invoice.txt",
      "Invoice 4471: Alice paid 912 euros for the espresso machine.",
      { user_id: "alice" },
    );
    await rig.addDocument(
      ctx,
      "session-notes.txt",
      "In this session the espresso machine was promised for free.",
      { session_id: "ses-1" },
    );
    await rig.addDocument(
      ctx,
      "other-agent.txt",
      "The espresso machine discount code is BREW-20.",
      { agent_id: "agt_someoneelse" },
    );
    const mine = await rig.addDocument(
      ctx,
      "agent-notes.txt",
      "The espresso machine descales itself every month.",
      { agent_id: agent.id },
    );
    const chat = rig.engine();
    for (const userId of [undefined, "alice", "bob"]) {
      const heard = await ask(chat, ctx, {
        agent,
        message: "What about the espresso machine?",
        userId,
      });
      const titles = heard.outcome.citations.map((c) => c.title);
      assert.ok(!titles.includes("alice-invoice.txt"), `user ${userId}: ${titles}`);
      assert.ok(!titles.includes("other-agent.txt"), `user ${userId}: ${titles}`);
      assert.ok(!titles.includes("session-notes.txt"), `user ${userId}: ${titles}`);
      assert.doesNotMatch(heard.outcome.text, /912|BREW-20|for free/);
      assert.ok(
        heard.outcome.citations.some((c) => c.document_id === mine),
        `own agent's document: ${titles}`,
      );
    }
  });

  test("the visitor's memories, only theirs, only when the agent reads memory", async () => {
    const ctx = await rig.tenant();
    await rig.remember(ctx, "carol", ["Carol ordered the blue espresso machine in March"]);
    await rig.remember(ctx, "dave", ["Dave ordered a red kettle in May"]);
    const chat = rig.engine();
    const q = "What did I order?";
    const carol = await ask(chat, ctx, { agent: testAgent(), message: q, userId: "carol" });
    assert.match(carol.outcome.text, /blue espresso machine/);
    assert.doesNotMatch(carol.outcome.text, /kettle/);
    const blind = await ask(chat, ctx, {
      agent: testAgent({ memory: { read: false, write: false } }),
      message: q,
      userId: "carol",
    });
    assert.equal(blind.outcome.text, NOTHING_FOUND);
    const anonymous = await ask(chat, ctx, { agent: testAgent(), message: q });
    assert.equal(anonymous.outcome.text, NOTHING_FOUND);
  });
});
