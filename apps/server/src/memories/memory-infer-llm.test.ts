import assert from "node:assert/strict";
import { after, beforeEach, describe, test } from "node:test";
import { echoFactsHandler, fakeReconcileAnswer, startFakeOpenAI } from "../testing/fake-openai.ts";
import { listAll } from "../testing/memory-fixtures.ts";
import {
  adminClient,
  describeOnBackends,
  expectProblem,
  type Tenant,
  tenant,
} from "../testing/route-suite.ts";

// infer: true with the LLM engine, end to end through HTTP: the server talks to a local server
// speaking the OpenAI chat-completions protocol. Decisions, fallback to the local engine, the
// LLM spend recorded against the tenant, and the plan's monthly LLM budget (402).

const MODEL = "gpt-test-mini";
// $1 per million tokens in, $2 out: the fake reports 10 in and 5 out per call = $0.00002.
const PRICES = JSON.stringify({ [MODEL]: { input_per_mtok: 1, output_per_mtok: 2 } });
const CALL_USD = (10 * 1 + 5 * 2) / 1e6;

const fake = await startFakeOpenAI();
after(() => fake.close());

/** Extraction answers the message text as one fact; reconciliation follows `decide`. */
const script = (decide: Parameters<typeof echoFactsHandler>[0]) =>
  fake.setHandler(echoFactsHandler(decide));

const env = {
  ENGRAM_LLM_BASE_URL: fake.baseUrl,
  ENGRAM_LLM_MODEL: MODEL,
  ENGRAM_LLM_PRICES: PRICES,
  ENGRAM_LLM_MAX_RETRIES: "0",
};

async function llmUsage(t: Tenant) {
  const usage = await t.client.getUsage();
  return usage.llm;
}

describeOnBackends(
  "memory inference with an LLM",
  () => {
    beforeEach(() => fake.reset());

    describe("POST /v1/memories with infer: true (LLM engine)", () => {
      test("the model's facts and decisions are stored; each call is recorded against the tenant", async () => {
        const t = await tenant();
        script(() => fakeReconcileAnswer({ event: "ADD", reason: "new" }));
        const res = await t.client.addMemory({
          messages: [{ role: "user", content: "I live in Berlin" }],
          user_id: "alice",
          infer: true,
        });
        assert.deepEqual(res.inference, { engine: "llm" });
        assert.equal(res.results.length, 1);
        assert.equal(res.results[0]?.event, "ADD");
        assert.equal(res.results[0]?.memory, "LLM: I live in Berlin");
        assert.equal(res.results[0]?.reason, "new");
        const history = await t.client.getMemoryHistory(res.results[0]?.id as string);
        assert.equal(history.results[0]?.engine, "llm");
        assert.deepEqual(
          fake.requests.map((r) => [r.model, r.schemaName]),
          [
            [MODEL, "engram_extract"],
            [MODEL, "engram_reconcile"],
          ],
        );

        const llm = await llmUsage(t);
        assert.equal(llm.calls, 2);
        assert.equal(llm.tokens_in, 20);
        assert.equal(llm.tokens_out, 10);
        assert.ok(Math.abs(llm.spend_usd - 2 * CALL_USD) < 1e-9, String(llm.spend_usd));
      });

      test("a supersession decided by the model closes the old memory", async () => {
        const t = await tenant();
        script(() => fakeReconcileAnswer({ event: "ADD" }));
        const first = await t.client.addMemory({
          text: "I live in Berlin",
          user_id: "bo",
          infer: true,
        });
        const oldId = first.results[0]?.id as string;
        script((input) => {
          assert.deepEqual(
            input.neighbours.map((n) => n.id),
            [oldId],
            "the scope's memory is offered",
          );
          return fakeReconcileAnswer({
            event: "UPDATE",
            target_id: oldId,
            supersede: true,
            text: "Bo lives in Lisbon",
            reason: "moved",
          });
        });
        const moved = await t.client.addMemory({
          text: "I moved to Lisbon",
          user_id: "bo",
          infer: true,
        });
        const [u] = moved.results;
        assert.equal(u?.event, "UPDATE");
        assert.equal(u?.supersedes, oldId);
        assert.equal(u?.memory, "Bo lives in Lisbon");
        const old = await t.client.getMemory(oldId);
        assert.equal(old.superseded_by, u?.id);
        assert.ok(old.valid_to);
      });

      test("output that fails the schema twice is handled by the local engine, and the response says so", async () => {
        const t = await tenant();
        fake.setHandler(() => ({ content: { facts: "not a list" } }));
        const res = await t.client.addMemory({
          messages: [{ role: "user", name: "Cleo", content: "I work at Globex." }],
          user_id: "cleo",
          infer: true,
        });
        assert.equal(res.inference?.engine, "llm");
        assert.match(res.inference?.fallback ?? "", /schema/);
        assert.equal(res.results.length, 1, JSON.stringify(res));
        assert.equal(res.results[0]?.event, "ADD");
        assert.match(res.results[0]?.memory ?? "", /Cleo/);
        const history = await t.client.getMemoryHistory(res.results[0]?.id as string);
        assert.equal(history.results[0]?.engine, "local");
        // The failed attempts cost tokens too, and are recorded.
        assert.ok((await llmUsage(t)).calls >= 2);
      });

      test("past the plan's monthly LLM budget, infer is 402 llm_budget_exceeded; verbatim adds go on", async () => {
        const t = await tenant();
        await adminClient().updateTenant(t.tenantId, {
          overrides: { llm_budget_usd: 3 * CALL_USD },
        });
        script(() => fakeReconcileAnswer({ event: "ADD" }));
        await t.client.addMemory({ text: "I like jazz", user_id: "dee", infer: true });
        await t.client.addMemory({ text: "I like tea", user_id: "dee", infer: true });
        const spent = await llmUsage(t);
        assert.equal(spent.calls, 4);
        assert.equal(spent.exhausted, true);
        const before = fake.requests.length;
        await expectProblem(
          t.client.addMemory({ text: "I like chess", user_id: "dee", infer: true }),
          402,
          "llm_budget_exceeded",
        );
        assert.equal(fake.requests.length, before, "no LLM call past the budget");
        assert.equal((await listAll(t)).length, 2);
        const plain = await t.client.addMemory({ text: "I like chess", user_id: "dee" });
        assert.equal(plain.results[0]?.event, "ADD");
        assert.equal((await llmUsage(t)).calls, 4);
      });
    });
  },
  env,
);

describeOnBackends(
  "memory inference past the LLM budget with the local fallback",
  () => {
    test("the local engine takes over and the response says why", async () => {
      const t = await tenant();
      await adminClient().updateTenant(t.tenantId, { overrides: { llm_budget_usd: 0 } });
      fake.reset();
      const res = await t.client.addMemory({
        messages: [{ role: "user", name: "Eve", content: "I live in Oslo." }],
        user_id: "eve",
        infer: true,
      });
      assert.match(res.inference?.fallback ?? "", /budget/);
      assert.equal(res.results[0]?.event, "ADD");
      assert.match(res.results[0]?.memory ?? "", /Eve/);
      assert.equal(fake.requests.length, 0);
    });
  },
  { ...env, ENGRAM_LLM_BUDGET_FALLBACK: "local" },
);
