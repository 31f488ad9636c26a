import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { PlanOverrides } from "@engram/contract";
import type { Database } from "../db/database.ts";
import type { LlmCall } from "../inference/engine.ts";
import { AppError } from "../lib/errors.ts";
import { newId } from "../lib/ids.ts";
import { loadPlans } from "../plans/plans.ts";
import { describeOnBackends } from "../testing/backend-suite.ts";
import { assertProblem } from "../testing/http.ts";
import { projectOf, seedTenant, testDatabases } from "../testing/test-databases.ts";
import {
  checkLlmBudget,
  createLlmBudgetCheck,
  LLM_COST_METRIC,
  readLlmBudget,
  recordLlmCalls,
} from "./llm-usage.ts";
import { type MeterContext, meterOf } from "./metering.ts";

const plans = loadPlans();

const call = (model: string, costUsd: number, over: Partial<LlmCall> = {}): LlmCall => ({
  model,
  purpose: "extract",
  tokensIn: 1000,
  tokensOut: 200,
  latencyMs: 850,
  costUsd,
  ...over,
});

const meterFor = (
  tenantId: string,
  overrides: PlanOverrides = {},
  planId = "developer",
): MeterContext => ({
  tenantId,
  projectId: projectOf(tenantId),
  keyId: null,
  requestId: newId("req"),
  plan: plans.effective(planId, overrides),
});

/** Noon on the first day of the month `months` after the current one (UTC). */
const monthFromNow = (months: number) => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + months, 1, 12));
};
/** When the current period ends: the start of next month (UTC). */
const periodEnd = () => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
};

for (const backend of testDatabases) {
  describe(`LLM calls and budgets on ${backend.name}`, () => {
    let db: Database;
    before(async () => {
      db = await backend.open();
    });
    after(() => db.close());

    const rows = (tenantId: string) =>
      db.withTenant(tenantId, (tx) =>
        tx.query<{ model: string; cost_micro_usd: string; seq: number; request_id: string }>(
          "SELECT model, cost_micro_usd, seq, request_id FROM llm_calls ORDER BY seq",
        ),
      );
    const counter = async (tenantId: string) => {
      const [row] = await db.withTenant(tenantId, (tx) =>
        tx.query<{ used: string }>("SELECT used FROM usage_counters WHERE metric = $1", [
          LLM_COST_METRIC,
        ]),
      );
      return row === undefined ? undefined : Number(row.used);
    };

    test("recording writes each call and adds their cost, in micro-dollars, to the period's counter", async () => {
      const t = await seedTenant(db);
      const m = meterFor(t);
      await db.withTenant(t, (tx) =>
        recordLlmCalls(tx, m, "memory.add", [
          call("gpt-4o-mini", 0.00123),
          call("gpt-4o", 0.0105, { purpose: "reconcile", tokensIn: 3000, tokensOut: 50 }),
        ]),
      );
      const written = await rows(t);
      assert.deepEqual(
        written.map((r) => [r.model, Number(r.cost_micro_usd), r.seq, r.request_id]),
        [
          ["gpt-4o-mini", 1230, 0, m.requestId],
          ["gpt-4o", 10_500, 1, m.requestId],
        ],
      );
      assert.equal(await counter(t), 11_730);
      const [full] = await db.withTenant(t, (tx) =>
        tx.query("SELECT * FROM llm_calls WHERE seq = 1"),
      );
      assert.deepEqual(
        {
          project: full?.project_id,
          purpose: full?.purpose,
          in: full?.tokens_in,
          out: full?.tokens_out,
          latency: full?.latency_ms,
          op: full?.operation,
        },
        {
          project: projectOf(t),
          purpose: "reconcile",
          in: 3000,
          out: 50,
          latency: 850,
          op: "memory.add",
        },
      );
      // A second write of the period adds to the same counter.
      await db.withTenant(t, (tx) =>
        recordLlmCalls(tx, meterFor(t), "memory.add", [call("gpt-4o-mini", 0.5)]),
      );
      assert.equal(await counter(t), 511_730);
    });

    test("calls roll back with the write's transaction: no row, no spend", async () => {
      const t = await seedTenant(db);
      await assert.rejects(
        db.withTenant(t, async (tx) => {
          await recordLlmCalls(tx, meterFor(t), "memory.add", [call("gpt-4o", 0.25)]);
          throw new AppError("quota_exceeded", "the write failed after inference");
        }),
        /the write failed/,
      );
      assert.deepEqual(await rows(t), []);
      assert.equal(await counter(t), undefined);
    });

    test("the same calls recorded twice in one request count once; another operation counts again", async () => {
      const t = await seedTenant(db);
      const m = meterFor(t);
      const calls = [call("m", 0.1), call("m", 0.2)];
      await db.withTenant(t, (tx) => recordLlmCalls(tx, m, "memory.add", calls));
      await db.withTenant(t, (tx) => recordLlmCalls(tx, m, "memory.add", calls));
      assert.equal((await rows(t)).length, 2);
      assert.equal(await counter(t), 300_000);
      await db.withTenant(t, (tx) => recordLlmCalls(tx, m, "memory.batch:1", [call("m", 0.1)]));
      assert.equal((await rows(t)).length, 3);
      assert.equal(await counter(t), 400_000);
      // Nothing to record is a no-op.
      await db.withTenant(t, (tx) => recordLlmCalls(tx, m, "memory.add:2", []));
      assert.equal(await counter(t), 400_000);
    });

    test("a call with a negative or non-finite number is refused, and nothing is recorded", async () => {
      const t = await seedTenant(db);
      for (const bad of [call("m", -0.01), call("m", Number.NaN), call("m", 0, { tokensIn: -1 })]) {
        await assert.rejects(
          db.withTenant(t, (tx) => recordLlmCalls(tx, meterFor(t), "memory.add", [bad])),
          /LLM call/,
        );
      }
      assert.deepEqual(await rows(t), []);
    });

    test("the budget check: under the budget is llm; at or past it 402 llm_budget_exceeded, or local where configured", async () => {
      const t = await seedTenant(db);
      const m = meterFor(t, { llm_budget_usd: 0.5 });
      const check = (fallback: "refuse" | "local") =>
        db.withTenant(t, (tx) => checkLlmBudget(tx, m, fallback));
      assert.deepEqual((await check("refuse")).budget, {
        spentUsd: 0,
        budgetUsd: 0.5,
        periodEnd: periodEnd(),
        exhausted: false,
      });
      await db.withTenant(t, (tx) => recordLlmCalls(tx, m, "memory.add", [call("m", 0.3)]));
      assert.equal((await check("refuse")).engine, "llm");
      // Exactly at the budget is past it.
      await db.withTenant(t, (tx) =>
        recordLlmCalls(tx, meterFor(t), "memory.add", [call("m", 0.2)]),
      );
      let refused: unknown;
      try {
        await check("refuse");
      } catch (err) {
        refused = err;
      }
      assert.ok(refused instanceof AppError, String(refused));
      assert.equal(refused.code, "llm_budget_exceeded");
      assert.equal(refused.status, 402);
      assert.deepEqual(refused.extra, {
        budget_usd: 0.5,
        spent_usd: 0.5,
        period_end: periodEnd().toISOString(),
      });
      const local = await check("local");
      assert.equal(local.engine, "local");
      assert.equal(local.budget.exhausted, true);
      // The service's form: its own transaction under the tenant's context.
      await assert.rejects(createLlmBudgetCheck(db, "refuse")(m), /LLM budget/);
      assert.equal((await createLlmBudgetCheck(db, "local")(m)).engine, "local");
    });

    test("a budget of 0 refuses from the start; null is unlimited whatever the spend", async () => {
      const t = await seedTenant(db);
      await assert.rejects(
        db.withTenant(t, (tx) => checkLlmBudget(tx, meterFor(t, { llm_budget_usd: 0 }), "refuse")),
        (err: unknown) => err instanceof AppError && err.code === "llm_budget_exceeded",
      );
      const unlimited = meterFor(t, {}, "enterprise");
      await db.withTenant(t, (tx) =>
        recordLlmCalls(tx, unlimited, "memory.add", [call("m", 10_000)]),
      );
      const r = await db.withTenant(t, (tx) => checkLlmBudget(tx, unlimited, "refuse"));
      assert.equal(r.engine, "llm");
      assert.deepEqual([r.budget.spentUsd, r.budget.budgetUsd], [10_000, null]);
    });

    test("spend is per calendar month: last month's calls do not count against this month's budget", async () => {
      const t = await seedTenant(db);
      const m = meterFor(t, { llm_budget_usd: 1 });
      await db.withTenant(t, (tx) =>
        recordLlmCalls(tx, m, "memory.add", [call("m", 5)], monthFromNow(-1)),
      );
      const now = await db.withTenant(t, (tx) => readLlmBudget(tx, m));
      assert.deepEqual([now.spentUsd, now.exhausted], [0, false]);
      const then = await db.withTenant(t, (tx) => readLlmBudget(tx, m, monthFromNow(-1)));
      assert.deepEqual([then.spentUsd, then.exhausted], [5, true]);
    });

    test("row-level security: another tenant sees none of the calls or the spend, and cannot write them", async () => {
      const a = await seedTenant(db, "a");
      const b = await seedTenant(db, "b");
      await db.withTenant(a, (tx) =>
        recordLlmCalls(tx, meterFor(a), "memory.add", [call("m", 0.7)]),
      );
      assert.equal((await rows(a)).length, 1);
      assert.deepEqual(await rows(b), []);
      assert.equal(await counter(b), undefined);
      const [all] = await db.withTenant(b, (tx) =>
        tx.query<{ n: number }>("SELECT count(*)::int AS n FROM llm_calls"),
      );
      assert.equal(all?.n, 0);
      const bBudget = await db.withTenant(b, (tx) =>
        readLlmBudget(tx, { tenantId: a, plan: meterFor(a).plan }),
      );
      assert.equal(bBudget.spentUsd, 0, "tenant b's context reads nothing of a's counter");
      await assert.rejects(
        db.withTenant(b, (tx) => recordLlmCalls(tx, meterFor(a), "memory.add", [call("m", 1)])),
        /row-level security/,
      );
      // The application role may only append.
      await assert.rejects(
        db.withTenant(a, (tx) => tx.query("UPDATE llm_calls SET cost_micro_usd = 0")),
        /permission denied/,
      );
      await assert.rejects(
        db.withTenant(a, (tx) => tx.query("DELETE FROM llm_calls")),
        /permission denied/,
      );
    });
  });
}

describeOnBackends("LLM spend in GET /v1/usage", (suite) => {
  const { as, admin, provision, withStoppedServer } = suite;

  test("shows the period's spend, calls, tokens and models against the plan's budget; another tenant sees none", async () => {
    const t = await provision({ plan: "developer" });
    const other = await provision({ plan: "developer" });
    const before = await as(t.key, "GET", "/v1/usage");
    assert.equal(before.status, 200, before.text);
    assert.deepEqual(before.body.llm, {
      spend_usd: 0,
      budget_usd: 1,
      percent: 0,
      exhausted: false,
      calls: 0,
      tokens_in: 0,
      tokens_out: 0,
      by_model: [],
    });

    // The memory service's meter: from the request's tenant context.
    const meter = meterOf({
      tenantId: t.id,
      projectId: t.projectId,
      actor: { kind: "key", keyId: t.keyId },
      scopes: new Set(),
      requestId: newId("req"),
      plan: plans.effective("developer", {}),
    });
    // The calls as the memory service records them, written past the API (it has no route).
    await withStoppedServer((storage) =>
      storage.asOwner(async (tx) => {
        await tx.query("SELECT set_config('app.tenant_id', $1, false)", [t.id]);
        await recordLlmCalls(tx, meter, "memory.add", [
          call("small", 0.05),
          call("large", 0.4, { purpose: "reconcile", tokensIn: 2000, tokensOut: 300 }),
          call("small", 0.05, { tokensIn: 500, tokensOut: 100 }),
        ]);
        await recordLlmCalls(
          tx,
          { ...meter, requestId: newId("req") },
          "memory.add",
          [call("ignored", 9)],
          monthFromNow(-1),
        );
        const keys = await tx.query<{ key_id: string }>(
          "SELECT DISTINCT key_id FROM llm_calls WHERE tenant_id = $1",
          [t.id],
        );
        assert.deepEqual(
          keys.map((k) => k.key_id),
          [t.keyId],
        );
      }),
    );

    const usage = await as(t.key, "GET", "/v1/usage");
    assert.equal(usage.status, 200, usage.text);
    assert.deepEqual(usage.body.llm, {
      spend_usd: 0.5,
      budget_usd: 1,
      percent: 50,
      exhausted: false,
      calls: 3,
      tokens_in: 3500,
      tokens_out: 600,
      by_model: [
        { model: "large", calls: 1, tokens_in: 2000, tokens_out: 300, spend_usd: 0.4 },
        { model: "small", calls: 2, tokens_in: 1500, tokens_out: 300, spend_usd: 0.1 },
      ],
    });
    const theirs = await as(other.key, "GET", "/v1/usage");
    assert.equal(theirs.body.llm.spend_usd, 0);
    assert.deepEqual(theirs.body.llm.by_model, []);

    // A tenant override lowers the budget below the spend: exhausted.
    const patched = await admin("PATCH", `/v1/admin/tenants/${t.id}`, {
      overrides: { llm_budget_usd: 0.25 },
    });
    assert.equal(patched.status, 200, patched.text);
    const over = await as(t.key, "GET", "/v1/usage");
    assert.deepEqual(
      [over.body.llm.budget_usd, over.body.llm.percent, over.body.llm.exhausted],
      [0.25, 200, true],
    );
    // null: unlimited.
    await admin("PATCH", `/v1/admin/tenants/${t.id}`, { overrides: { llm_budget_usd: null } });
    const unlimited = await as(t.key, "GET", "/v1/usage");
    assert.deepEqual(
      [unlimited.body.llm.budget_usd, unlimited.body.llm.percent, unlimited.body.llm.exhausted],
      [null, null, false],
    );
    assertProblem(
      await admin("PATCH", `/v1/admin/tenants/${t.id}`, { overrides: { llm_budget_usd: -1 } }),
      400,
      "validation_failed",
    );

    // The plans list shows each plan's budget.
    const listed = await admin("GET", "/v1/admin/plans");
    assert.equal(listed.status, 200, listed.text);
    const budgets = Object.fromEntries(
      listed.body.results.map((p: { id: string; llm_budget_usd: number | null }) => [
        p.id,
        p.llm_budget_usd,
      ]),
    );
    assert.deepEqual(
      [budgets.developer, budgets.starter, budgets.growth, budgets.enterprise],
      [1, 20, 200, null],
    );

    // Deleting the tenant removes its calls, counted in the receipt.
    const receipt = await admin("DELETE", `/v1/admin/tenants/${t.id}`);
    assert.equal(receipt.status, 200, receipt.text);
    assert.equal(receipt.body.removed.llm_calls, 4);
  });
});
