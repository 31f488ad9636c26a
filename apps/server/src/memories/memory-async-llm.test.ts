import assert from "node:assert/strict";
import { after, beforeEach, test } from "node:test";
import { echoFactsHandler, fakeReconcileAnswer, startFakeOpenAI } from "../testing/fake-openai.ts";
import { listAll } from "../testing/memory-fixtures.ts";
import { adminClient, describeOnBackends, expectProblem, tenant } from "../testing/route-suite.ts";

// Asynchronous adds with infer: true and the LLM engine (a local server speaking the OpenAI
// chat-completions protocol): the worker runs the same inference as the synchronous route, and
// the plan's monthly LLM budget refuses at once, as it does for synchronous adds.

const MODEL = "gpt-test-mini";
const PRICES = JSON.stringify({ [MODEL]: { input_per_mtok: 1, output_per_mtok: 2 } });

const fake = await startFakeOpenAI();
after(() => fake.close());

/** Extraction answers each message's text as one fact; reconciliation adds. */
const scriptAdd = () =>
  fake.setHandler(echoFactsHandler(() => fakeReconcileAnswer({ event: "ADD", reason: "new" })));

describeOnBackends(
  "asynchronous adds with the LLM engine",
  () => {
    beforeEach(() => fake.reset());

    test("the event gives the model's facts and the engine report; the spend is recorded", async () => {
      const t = await tenant();
      scriptAdd();
      const { event_id } = await t.client.addMemoryAsync({
        messages: [{ role: "user", content: "I live in Berlin" }],
        user_id: "alice",
        infer: true,
      });
      const event = await t.client.waitForEvent(event_id, { timeoutMs: 120_000 });
      assert.equal(event.status, "succeeded", JSON.stringify(event));
      assert.deepEqual(event.inference, { engine: "llm" });
      assert.deepEqual(
        event.results?.map((r) => [r.event, r.memory]),
        [["ADD", "LLM: I live in Berlin"]],
      );
      assert.ok((await t.client.getUsage()).llm.calls >= 2);
    });

    test("a spent LLM budget is 402 llm_budget_exceeded at once; nothing is queued", async () => {
      const t = await tenant();
      await adminClient().updateTenant(t.tenantId, { overrides: { llm_budget_usd: 0 } });
      scriptAdd();
      await expectProblem(
        t.client.addMemoryAsync({ text: "I like chess", user_id: "dee", infer: true }),
        402,
        "llm_budget_exceeded",
      );
      await expectProblem(
        t.client.batchAddMemoriesAsync({
          memories: [{ text: "I like go", user_id: "dee", infer: true }],
        }),
        402,
        "llm_budget_exceeded",
      );
      // A verbatim asynchronous add is not inference: it goes on.
      const plain = await t.client.addMemoryAsync({ text: "I like chess", user_id: "dee" });
      const event = await t.client.waitForEvent(plain.event_id, { timeoutMs: 120_000 });
      assert.equal(event.status, "succeeded", JSON.stringify(event));
      assert.equal((await listAll(t)).length, 1);
      assert.equal(fake.requests.length, 0);
    });
  },
  {
    ENGRAM_LLM_BASE_URL: fake.baseUrl,
    ENGRAM_LLM_MODEL: MODEL,
    ENGRAM_LLM_PRICES: PRICES,
    ENGRAM_LLM_MAX_RETRIES: "0",
    ENGRAM_INGEST_IN_PROCESS: "on",
  },
);
