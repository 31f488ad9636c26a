import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createRedisConnection, type RedisConnection } from "../cache/redis-connection.ts";
import type { LlmConfig } from "../inference/create-engine.ts";
import { createCounters } from "../telemetry/counters.ts";
import { ask, type ChatRig, startChatRig, testAgent } from "../testing/chat-rig.ts";
import { type FakeOpenAI, startFakeOpenAI } from "../testing/fake-openai.ts";
import { createTestRedis, type TestRedis } from "../testing/test-redis.ts";
import { createRedisChatCache } from "./chat-cache.ts";

// Cluster mode: the semantic cache in Redis, shared by two engines standing for two API
// processes, each with its own Redis connection: an answer one cached, the other serves; a
// generation bumped by one (an upload, on any process or worker) is seen by the other. Keys
// carry hashes, never questions or visitor ids. With Redis down, answers are served uncached.

const POLICY = "Returns: any item may be returned within 30 days of delivery.";
const QUESTION = "How many days do I have to return an item?";

describe("chat engine, semantic cache in Redis", () => {
  let rig: ChatRig;
  let fake: FakeOpenAI;
  let redis: TestRedis;
  let llm: LlmConfig;
  const connections: RedisConnection[] = [];
  const quiet = { warn() {}, info() {} };

  async function connection(): Promise<RedisConnection> {
    const c = createRedisConnection({
      url: redis.url,
      prefix: redis.prefix,
      counters: createCounters(),
    });
    await c.connect(quiet);
    connections.push(c);
    return c;
  }

  before(async () => {
    [rig, fake, redis] = await Promise.all([startChatRig(), startFakeOpenAI(), createTestRedis()]);
    llm = { baseUrl: fake.baseUrl, model: "m", timeoutMs: 30_000, maxRetries: 0, prices: {} };
    fake.setHandler(() => ({ stream: [`Answer ${fake.requests.length}. `, "Thirty days [1]."] }));
  });
  after(async () => {
    for (const c of connections) await c.close();
    await Promise.all([rig.close(), fake.close(), redis.close()]);
  });

  test("an answer cached by one process is served by another; invalidation reaches both", async () => {
    const ctx = await rig.tenant();
    await rig.addDocument(ctx, "policy.txt", POLICY);
    const a = rig.engine({ llm, cache: createRedisChatCache(await connection()) });
    const b = rig.engine({ llm, cache: createRedisChatCache(await connection()) });
    const agent = testAgent();
    await rig.remember(ctx, "carol", ["Carol wants to return the kettle she got in March"]);
    const first = await ask(a, ctx, { agent, message: QUESTION });
    assert.equal(first.outcome.cached, false);
    const onB = await ask(b, ctx, { agent, message: QUESTION });
    assert.equal(onB.outcome.cached, true);
    assert.equal(onB.outcome.text, first.outcome.text);
    assert.deepEqual(onB.outcome.citations, first.outcome.citations);
    // Another agent or tenant: no hit.
    assert.equal(
      (await ask(b, ctx, { agent: testAgent(), message: QUESTION })).outcome.cached,
      false,
    );
    const other = await rig.tenant();
    await rig.addDocument(other, "policy.txt", POLICY);
    assert.equal((await ask(b, other, { agent, message: QUESTION })).outcome.cached, false);
    // A visitor's personal answer, cached by A, is theirs only.
    const personal = "Can I return my kettle?";
    await ask(a, ctx, { agent, message: personal, userId: "carol" });
    assert.equal(
      (await ask(b, ctx, { agent, message: personal, userId: "carol" })).outcome.cached,
      true,
    );
    assert.equal(
      (await ask(b, ctx, { agent, message: personal, userId: "dave" })).outcome.cached,
      false,
    );
    // A invalidates; B sees it.
    await a.invalidateKnowledge(ctx.tenantId, ctx.projectId);
    assert.equal((await ask(b, ctx, { agent, message: QUESTION })).outcome.cached, false);
    assert.equal((await ask(a, ctx, { agent, message: QUESTION })).outcome.cached, true);

    const keys = await redis.keys();
    assert.ok(
      keys.some((k) => k.includes("chat:ans:")) && keys.some((k) => k.includes("chat:gen:")),
    );
    const stored = (
      await Promise.all(
        keys.filter((k) => k.includes("chat:ans:")).map((k) => redis.client.lrange(k, 0, -1)),
      )
    ).flat();
    assert.ok(stored.length > 0);
    assert.ok(
      keys.every((k) => !/carol|dave|return|kettle/i.test(k)),
      keys.join("\n"),
    );
    assert.ok(stored.every((v) => !v.includes("carol") && !v.includes(QUESTION)));
  });

  test("with Redis unreachable, answers are served and nothing is cached", async () => {
    const ctx = await rig.tenant();
    await rig.addDocument(ctx, "policy.txt", POLICY);
    const down = createRedisConnection({
      url: "redis://127.0.0.1:1",
      prefix: redis.prefix,
      counters: createCounters(),
    });
    await down.connect(quiet);
    connections.push(down);
    const chat = rig.engine({ llm, cache: createRedisChatCache(down) });
    const agent = testAgent();
    const first = await ask(chat, ctx, { agent, message: QUESTION });
    assert.equal(first.outcome.mode, "llm");
    assert.equal((await ask(chat, ctx, { agent, message: QUESTION })).outcome.cached, false);
  });
});
