import assert from "node:assert/strict";
import { test } from "node:test";
import { QuotaMetrics } from "@engram/contract";
import { loadPlans } from "./plans.ts";

const unlimited = Object.fromEntries(QuotaMetrics.map((m) => [m, null]));

test("the shipped plans file gives new tenants the self-hosted plan: no quotas, no rate limit", () => {
  const plans = loadPlans();
  assert.equal(plans.defaultPlan, "self-hosted");
  const plan = plans.effective(plans.defaultPlan, {});
  assert.deepEqual(plan.limits, unlimited);
  assert.equal(plan.rateLimit, null);
  // An unknown plan id falls back to the default: a self-hosted owner is never throttled by it.
  assert.equal(plans.effective("no-such-plan", {}).id, "self-hosted");
});

test("the product's tiers keep their limits for the tenants that are given them", () => {
  const plans = loadPlans();
  const tier = (id: string) => plans.effective(id, {});
  assert.equal(tier("developer").limits.memory_operations, 1000);
  assert.equal(tier("developer").limits.active_memories, 2500);
  assert.deepEqual(tier("developer").rateLimit, { requests: 100, windowSeconds: 3600 });
  assert.equal(tier("starter").limits.memory_operations, 100_000);
  assert.deepEqual(tier("starter").rateLimit, { requests: 100, windowSeconds: 3600 });
  assert.equal(tier("growth").limits.memory_operations, 1_500_000);
  assert.deepEqual(tier("growth").rateLimit, { requests: 1000, windowSeconds: 3600 });
  assert.deepEqual(tier("enterprise").limits, unlimited);
  assert.deepEqual(
    plans.list().map((p) => p.id),
    ["developer", "starter", "growth", "enterprise", "self-hosted"],
  );
});
