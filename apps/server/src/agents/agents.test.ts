import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import type { Agent, ChatStreamEvent } from "@engram/sdk";
import { assertProblem } from "../testing/http.ts";
import {
  adminClient,
  clientFor,
  describeOnBackends,
  expectProblem,
  expectUnauthenticated,
  keyWith,
  raw,
  serverUrl,
  type Tenant,
  tenant,
} from "../testing/route-suite.ts";

// Agents, their publishable keys, chat over SSE, JSON and WebSocket, and conversations, end to
// end on each backend with the default (extractive) engine. What the engine answers is chat/'s
// tests' business; here: the routes, their checks, isolation and what is recorded.

const ORIGIN = "https://shop.example.com";
const VISITOR_LIMIT = 40;
const visitorId = () => `v_${randomBytes(16).toString("base64url")}`;

async function agentOf(
  t: Tenant,
  body: Partial<Parameters<Tenant["client"]["agents"]["createAgent"]>[0]> = {},
) {
  return t.client.agents.createAgent({
    name: "Support",
    instructions: "Answer from the shop's documents.",
    allowed_origins: [ORIGIN],
    ...body,
  });
}

/** A widget request: the publishable key, from a browser origin. */
function widget(
  agent: Agent,
  method: string,
  path: string,
  body?: unknown,
  origin: string | null = ORIGIN,
) {
  return raw(method, path, {
    token: agent.publishable_key,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    headers: origin ? { origin } : {},
  });
}

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
type Event = { event: string; data: any };

/** Reads an SSE response into its events. */
async function sseEvents(res: Response): Promise<Event[]> {
  const text = await res.text();
  return text
    .split("\n\n")
    .filter((block) => block.trim() !== "")
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null");
      return { event, data };
    });
}

async function collect(stream: AsyncGenerator<ChatStreamEvent>) {
  const events: ChatStreamEvent[] = [];
  for await (const e of stream) events.push(e);
  return events;
}

describeOnBackends(
  "agents, chat and conversations",
  () => {
    test("an agent is created with defaults, read, listed, changed and deleted; each step audited", async () => {
      const t = await tenant();
      const a = await t.client.agents.createAgent({ name: "Helper" });
      assert.match(a.id, /^agt_/);
      assert.match(a.publishable_key, /^pk_[A-Za-z0-9_-]{32}$/);
      assert.deepEqual(
        { ...a, id: "", publishable_key: "", created_at: "", updated_at: "" },
        {
          id: "",
          name: "Helper",
          instructions: "",
          greeting: null,
          knowledge: { collections: null },
          memory: { read: true, write: false },
          model: null,
          allowed_origins: [],
          publishable_key: "",
          created_at: "",
          updated_at: "",
        },
      );
      assert.deepEqual(await t.client.agents.getAgent(a.id), a);

      const b = await agentOf(t, { greeting: "Hi!", knowledge: { collections: ["faq"] } });
      const listed = [];
      for await (const x of t.client.agents.listAllAgents({ limit: 1 })) listed.push(x.id);
      assert.deepEqual(listed, [a.id, b.id], "oldest first, across pages");

      const changed = await t.client.agents.updateAgent(a.id, {
        instructions: "Be brief.",
        memory: { read: false, write: true },
        greeting: null,
      });
      assert.equal(changed.instructions, "Be brief.");
      assert.deepEqual(changed.memory, { read: false, write: true });
      assert.equal(changed.name, "Helper", "what the change does not name is kept");
      assert.equal(changed.publishable_key, a.publishable_key);
      assert.ok(changed.updated_at >= a.updated_at);

      const gone = await t.client.agents.deleteAgent(a.id);
      assert.deepEqual(gone, { id: a.id, deleted: true, conversations: 0 });
      await expectProblem(t.client.agents.getAgent(a.id), 404, "not_found");
      const audit = await t.client.listAudit();
      const actions = audit.results.map((e) => e.action);
      for (const action of ["agent.create", "agent.update", "agent.delete"]) {
        assert.ok(actions.includes(action), action);
      }
    });

    test("bad input is a 400 naming the field; scopes are enforced", async () => {
      const t = await tenant();
      await expectProblem(
        t.client.agents.createAgent({ name: "x", allowed_origins: ["https://a.com/path"] }),
        400,
        "validation_failed",
        "allowed_origins[0]",
      );
      await expectProblem(
        t.client.agents.createAgent({ name: "" }),
        400,
        "validation_failed",
        "name",
      );
      await expectProblem(
        t.client.agents.createAgent({ name: "x", instructions: "i".repeat(20_001) }),
        400,
        "validation_failed",
        "instructions",
      );
      const a = await agentOf(t);
      await expectProblem(t.client.agents.updateAgent(a.id, {} as never), 400, "validation_failed");
      await expectProblem(
        t.client.agents.chat(a.id, { message: "" }),
        400,
        "validation_failed",
        "message",
      );
      await expectProblem(
        t.client.agents.chat(a.id, { message: "hi", conversation_id: "cnv_nope" }),
        400,
        "validation_failed",
        "conversation_id",
      );
      const reader = await keyWith(t, ["agents:read"]);
      await expectProblem(reader.agents.createAgent({ name: "x" }), 403, "forbidden");
      await expectProblem(reader.agents.chat(a.id, { message: "hi" }), 403, "forbidden");
      assert.equal((await reader.agents.getAgent(a.id)).id, a.id);
      const memoriesOnly = await keyWith(t, ["memories:read"]);
      await expectProblem(memoriesOnly.agents.listAgents(), 403, "forbidden");
      await expectProblem(memoriesOnly.agents.listConversations(), 403, "forbidden");
      await expectUnauthenticated("GET", "v1/agents");
    });

    test("the plan's agents limit answers 402 quota_exceeded naming the metric", async () => {
      const created = await adminClient().createTenant({
        name: "limited",
        overrides: { agents: 1 },
      });
      const client = clientFor(created.key.key);
      await client.agents.createAgent({ name: "one" });
      const problem = await expectProblem(
        client.agents.createAgent({ name: "two" }),
        402,
        "quota_exceeded",
      );
      assert.equal(problem.metric, "agents");
      assert.equal(problem.limit, 1);
      assert.equal(problem.used, 1);
      const usage = await client.getUsage();
      assert.equal(usage.metrics.find((m) => m.metric === "agents")?.used, 1);
    });

    test("chat streams conversation, deltas and done as SSE; stream: false answers the same as JSON", async () => {
      const t = await tenant();
      const a = await agentOf(t);
      const res = await fetch(new URL(`v1/agents/${a.id}/chat`, serverUrl()), {
        method: "POST",
        headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json" },
        body: JSON.stringify({ message: "Where is my order?", user_id: "u1" }),
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
      const events = await sseEvents(res);
      assert.equal(events[0]?.event, "conversation");
      assert.equal(events.at(-1)?.event, "done");
      const deltas = events.filter((e) => e.event === "delta");
      assert.ok(deltas.length >= 1);
      const done = events.at(-1)?.data;
      assert.match(done.message_id, /^msg_/);
      assert.equal(done.mode, "extractive");
      assert.equal(done.terminated, false);
      const conversationId = events[0]?.data.conversation_id;

      const json = await t.client.agents.chat(a.id, {
        message: "And when does it arrive?",
        conversation_id: conversationId,
      });
      assert.equal(json.conversation_id, conversationId);
      assert.equal(json.mode, "extractive");
      assert.ok(json.text.length > 0);

      const c = await t.client.agents.getConversation(conversationId);
      assert.equal(c.agent_id, a.id);
      assert.equal(c.user_id, "u1", "the conversation keeps its user");
      assert.equal(c.message_count, 4);
      assert.deepEqual(
        c.messages.map((m) => m.role),
        ["user", "assistant", "user", "assistant"],
      );
      assert.equal(c.messages[0]?.text, "Where is my order?");
      assert.equal(c.messages[1]?.text, deltas.map((d) => d.data.text).join(""));
      assert.equal(c.messages[1]?.id, done.message_id);
      assert.equal(c.messages[3]?.id, json.message_id);

      // Another user on the same conversation is refused, naming the field.
      await expectProblem(
        t.client.agents.chat(a.id, {
          message: "hi",
          conversation_id: conversationId,
          user_id: "u2",
        }),
        400,
        "validation_failed",
        "user_id",
      );
    });

    test("the SDK's stream helper yields the events in order", async () => {
      const t = await tenant();
      const a = await agentOf(t);
      const events = await collect(t.client.agents.chatStream(a.id, { message: "Hello there" }));
      assert.equal(events[0]?.event, "conversation");
      assert.equal(events.at(-1)?.event, "done");
      assert.ok(events.some((e) => e.event === "delta"));
    });

    test("the WebSocket carries the same events, one turn at a time; a bad frame is an error event", async () => {
      const t = await tenant();
      const a = await agentOf(t);
      const url = new URL(`v1/agents/${a.id}/ws`, serverUrl());
      url.protocol = "ws:";
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${t.key}` } } as never);
      const frames: Event[] = [];
      await new Promise<void>((resolve, reject) => {
        ws.addEventListener("open", () => resolve());
        ws.addEventListener("error", () => reject(new Error("websocket failed")));
      });
      const next = (event: string) =>
        new Promise<void>((resolve) => {
          const check = (m: MessageEvent) => {
            const frame = JSON.parse(String(m.data));
            frames.push(frame);
            if (frame.event === event) {
              ws.removeEventListener("message", check);
              resolve();
            }
          };
          ws.addEventListener("message", check);
        });
      let done = next("done");
      ws.send(JSON.stringify({ message: "What do you sell?" }));
      await done;
      assert.deepEqual([frames[0]?.event, frames.at(-1)?.event], ["conversation", "done"]);
      const conversationId = frames[0]?.data.conversation_id;
      frames.length = 0;
      done = next("error");
      ws.send("not json");
      await done;
      assert.equal(frames.at(-1)?.data.code, "invalid_json");
      frames.length = 0;
      done = next("done");
      ws.send(JSON.stringify({ message: "Thanks", conversation_id: conversationId }));
      await done;
      assert.equal(frames[0]?.data.conversation_id, conversationId);
      ws.close();
      const c = await t.client.agents.getConversation(conversationId);
      assert.equal(c.message_count, 4);
    });

    test("a publishable key reaches its agent's config and chat from allowed origins, and nothing else", async () => {
      const t = await tenant();
      const a = await agentOf(t, { greeting: "Hello! Ask me anything." });
      const b = await agentOf(t, { name: "Other" });

      const config = await widget(a, "GET", `v1/agents/${a.id}/config`);
      assert.equal(config.status, 200);
      assert.deepEqual(config.body, {
        id: a.id,
        name: "Support",
        greeting: "Hello! Ask me anything.",
      });
      assert.equal(config.headers.get("access-control-allow-origin"), ORIGIN);

      const elsewhere = await widget(
        a,
        "GET",
        `v1/agents/${a.id}/config`,
        undefined,
        "https://evil.example",
      );
      assertProblem(elsewhere, 403, "forbidden");
      assert.equal(elsewhere.headers.get("access-control-allow-origin"), null);
      assertProblem(
        await widget(a, "GET", `v1/agents/${a.id}/config`, undefined, null),
        403,
        "forbidden",
      );
      assertProblem(await widget(a, "GET", `v1/agents/${b.id}/config`), 403, "forbidden");
      const unknown = { ...a, publishable_key: `pk_${randomBytes(24).toString("base64url")}` };
      assertProblem(
        await widget(unknown, "GET", `v1/agents/${a.id}/config`),
        401,
        "unauthenticated",
      );

      // Every other route: refused.
      for (const [method, path] of [
        ["GET", "v1/memories?user_id=x"],
        ["GET", `v1/agents/${a.id}`],
        ["GET", "v1/conversations"],
        ["POST", "v1/agents"],
        ["GET", "v1/usage"],
      ] as const) {
        assertProblem(
          await widget(a, method, path, method === "POST" ? { name: "x" } : undefined),
          403,
          "forbidden",
        );
      }

      const preflight = await fetch(new URL(`v1/agents/${a.id}/chat`, serverUrl()), {
        method: "OPTIONS",
        headers: {
          origin: ORIGIN,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type",
        },
      });
      assert.equal(preflight.status, 204);
      assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /authorization/);

      // A visitor chats with their own id; another visitor cannot continue their conversation.
      const me = visitorId();
      const first = await widget(a, "POST", `v1/agents/${a.id}/chat`, {
        message: "Do you ship abroad?",
        user_id: me,
        stream: false,
      });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.headers.get("access-control-allow-origin"), ORIGIN);
      const again = await widget(a, "POST", `v1/agents/${a.id}/chat`, {
        message: "And to Canada?",
        user_id: me,
        conversation_id: first.body.conversation_id,
        stream: false,
      });
      assert.equal(again.status, 200);
      assertProblem(
        await widget(a, "POST", `v1/agents/${a.id}/chat`, {
          message: "Show me their chat",
          user_id: visitorId(),
          conversation_id: first.body.conversation_id,
          stream: false,
        }),
        404,
        "not_found",
      );
      assertProblem(
        await widget(a, "POST", `v1/agents/${a.id}/chat`, {
          message: "hi",
          user_id: "alice",
          stream: false,
        }),
        400,
        "validation_failed",
      );
      const c = await t.client.agents.getConversation(first.body.conversation_id);
      assert.equal(c.user_id, `visitor:${me}`, "a visitor's id is namespaced");
      assert.equal(c.message_count, 4);
    });

    test("a visitor is rate limited per agent", async () => {
      const t = await tenant();
      const a = await agentOf(t);
      let limited: Awaited<ReturnType<typeof widget>> | undefined;
      for (let i = 0; i <= VISITOR_LIMIT && !limited; i++) {
        const r = await widget(a, "GET", `v1/agents/${a.id}/config`);
        if (r.status !== 200) limited = r;
      }
      assert.ok(limited, "refused within the limit + 1");
      assertProblem(limited, 429, "rate_limited");
      assert.ok(Number(limited.headers.get("retry-after")) >= 1);
      // The API key is not the visitor: unaffected.
      assert.equal((await t.client.agents.getAgent(a.id)).id, a.id);
    });

    test("conversations are listed by agent and user, rated, deleted; deleting an agent takes its conversations", async () => {
      const t = await tenant();
      const a = await agentOf(t);
      const b = await agentOf(t, { name: "B" });
      const one = await t.client.agents.chat(a.id, { message: "One", user_id: "u1" });
      const two = await t.client.agents.chat(a.id, { message: "Two", user_id: "u2" });
      const three = await t.client.agents.chat(b.id, { message: "Three", user_id: "u1" });
      const ids = async (q: Parameters<Tenant["client"]["agents"]["listConversations"]>[0]) => {
        const out = [];
        for await (const c of t.client.agents.listAllConversations({ ...q, limit: 1 }))
          out.push(c.id);
        return out;
      };
      assert.deepEqual(await ids({}), [
        three.conversation_id,
        two.conversation_id,
        one.conversation_id,
      ]);
      assert.deepEqual(await ids({ agent_id: a.id }), [two.conversation_id, one.conversation_id]);
      assert.deepEqual(await ids({ user_id: "u1" }), [three.conversation_id, one.conversation_id]);

      const rated = await t.client.agents.setFeedback(one.message_id, {
        rating: "down",
        comment: "Wrong",
      });
      assert.equal(rated.feedback?.rating, "down");
      const rerated = await t.client.agents.setFeedback(one.message_id, { rating: "up" });
      assert.deepEqual([rerated.feedback?.rating, rerated.feedback?.comment], ["up", null]);
      const c = await t.client.agents.getConversation(one.conversation_id);
      assert.equal(c.messages[1]?.feedback?.rating, "up");
      assert.equal(c.messages[0]?.feedback, null);
      // Only answers are rated.
      await expectProblem(
        t.client.agents.setFeedback(c.messages[0]?.id as string, { rating: "up" }),
        404,
        "not_found",
      );
      await expectProblem(
        t.client.agents.setFeedback(one.message_id, { rating: "meh" as never }),
        400,
        "validation_failed",
        "rating",
      );

      assert.deepEqual(await t.client.agents.deleteConversation(two.conversation_id), {
        id: two.conversation_id,
        deleted: true,
      });
      await expectProblem(t.client.agents.getConversation(two.conversation_id), 404, "not_found");
      assert.equal((await t.client.agents.deleteAgent(a.id)).conversations, 1);
      await expectProblem(t.client.agents.getConversation(one.conversation_id), 404, "not_found");
      assert.deepEqual(await ids({}), [three.conversation_id]);
    });

    test("another tenant's agents, conversations and messages are 404 on every route", async () => {
      const owner = await tenant();
      const other = await tenant();
      const a = await agentOf(owner);
      const answer = await owner.client.agents.chat(a.id, { message: "Hi", user_id: "u1" });
      const o = other.client.agents;
      await expectProblem(o.getAgent(a.id), 404, "not_found");
      await expectProblem(o.updateAgent(a.id, { name: "mine" }), 404, "not_found");
      await expectProblem(o.deleteAgent(a.id), 404, "not_found");
      await expectProblem(o.chat(a.id, { message: "hi" }), 404, "not_found");
      await expectProblem(o.getConversation(answer.conversation_id), 404, "not_found");
      await expectProblem(o.deleteConversation(answer.conversation_id), 404, "not_found");
      await expectProblem(o.setFeedback(answer.message_id, { rating: "up" }), 404, "not_found");
      const config = await raw("GET", `v1/agents/${a.id}/config`, { token: other.key });
      assertProblem(config, 404, "not_found");
      // Nor can it continue the conversation through its own agent.
      const mine = await agentOf(other);
      await expectProblem(
        o.chat(mine.id, { message: "hi", conversation_id: answer.conversation_id }),
        404,
        "not_found",
      );
      assert.equal((await o.listConversations()).results.length, 0, "nothing was recorded");
      assert.equal((await owner.client.agents.getAgent(a.id)).name, "Support", "untouched");
    });

    test("with memory.write, the visitor's message feeds inference under their user id", async () => {
      const t = await tenant();
      const a = await agentOf(t, { memory: { read: true, write: true } });
      await t.client.agents.chat(a.id, {
        message: "I am vegetarian and I live in Lisbon.",
        user_id: "diner",
      });
      let found: string[] = [];
      for (let i = 0; i < 100 && found.length === 0; i++) {
        found = (await t.client.listMemories({ user_id: "diner" })).results.map((m) => m.memory);
        if (found.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(
        found.some((m) => /vegetarian/i.test(m)),
        JSON.stringify(found),
      );
      // Without memory.write, nothing is remembered.
      const quiet = await agentOf(t, { memory: { read: true, write: false } });
      await t.client.agents.chat(quiet.id, {
        message: "I have a cat named Tom.",
        user_id: "silent",
      });
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual((await t.client.listMemories({ user_id: "silent" })).results, []);
    });

    test("answers are counted in the tenant's usage and in /metrics, without tenant labels", async () => {
      const t = await tenant();
      const a = await agentOf(t);
      const before = await t.client.getUsage();
      assert.equal(before.chat.answers, 0);
      assert.equal(before.chat.cache_hit_rate, null);
      await t.client.agents.chat(a.id, { message: "What are your opening hours?" });
      await t.client.agents.chat(a.id, { message: "Do you deliver on Sundays?" });
      const usage = await t.client.getUsage();
      assert.equal(usage.chat.answers, 2);
      assert.equal(usage.chat.cached + (usage.chat.answers - usage.chat.cached), 2);
      assert.equal(usage.chat.cost_usd, 0, "extractive answers cost nothing");
      assert.ok((usage.chat.time_to_first_token_ms.p50 ?? -1) >= 0);
      const metrics = await (await fetch(new URL("metrics", serverUrl()))).text();
      const answered = /^engram_chat_answers_total\{mode="extractive",cached="false"\} (\d+)/m.exec(
        metrics,
      );
      assert.ok(Number(answered?.[1]) >= 2, "answers counted");
      assert.match(
        metrics,
        /^engram_chat_time_to_first_token_seconds_count\{mode="extractive",cached="false"\} \d+/m,
      );
      assert.doesNotMatch(metrics, new RegExp(t.tenantId), "no tenant id in any series");
    });

    test("erasing a user removes their conversations and messages, counted in the receipt", async () => {
      const t = await tenant();
      const a = await agentOf(t);
      const kept = await t.client.agents.chat(a.id, { message: "Keep me", user_id: "stay" });
      const chat = await t.client.agents.chat(a.id, { message: "Forget me", user_id: "leaving" });
      const receipt = await t.client.eraseUser("leaving");
      assert.equal(receipt.removed.conversations, 1);
      assert.equal(receipt.removed.chat_messages, 2);
      await expectProblem(t.client.agents.getConversation(chat.conversation_id), 404, "not_found");
      assert.equal((await t.client.agents.getConversation(kept.conversation_id)).message_count, 2);
    });
  },
  // Asynchronous adds (memory.write) run in the API process on both backends here.
  {
    ENGRAM_WIDGET_VISITOR_REQUESTS: String(VISITOR_LIMIT),
    ENGRAM_INGEST_IN_PROCESS: "on",
    ENGRAM_INGEST_POLL_INTERVAL_MS: "500",
  },
);
