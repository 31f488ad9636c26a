import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { QuotaMetrics } from "@engram/contract";
import { tempDir } from "../testing/test-server.ts";
import { DEFAULT_PLANS_FILE, loadPlans, PlansFileError } from "./plans.ts";

const dir = tempDir("engram-plans-test-");
after(() => rmSync(dir, { recursive: true, force: true }));

/** A plans file with one plan `p`, written before api_keys and tenant_requests existed. */
function oldStylePlans(rateLimit: unknown = { requests: 50, window_seconds: 60 }) {
  const counts = { memory_operations: 10, storage_bytes: 10, active_memories: 10, projects: 1 };
  const path = join(dir, `plans-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      default_plan: "p",
      overage: { memory_operation_usd: 0, storage_gb_month_usd: 0 },
      plans: [
        {
          id: "p",
          name: "P",
          price_usd_month: 0,
          included: counts,
          limits: counts,
          rate_limit: rateLimit,
        },
      ],
    }),
  );
  return path;
}

describe("plans file", () => {
  test("the shipped file bounds keys and tenants on every limited plan", () => {
    const plans = loadPlans();
    const developer = plans.effective("developer", {});
    assert.equal(developer.limits.api_keys, 5);
    assert.deepEqual(developer.rateLimit, {
      requests: 100,
      tenantRequests: 500,
      windowSeconds: 3600,
    });
    const raw = JSON.parse(readFileSync(DEFAULT_PLANS_FILE, "utf8"));
    for (const p of raw.plans as { id: string; rate_limit: unknown; limits: object }[]) {
      assert.ok("api_keys" in p.limits, p.id);
      if (p.rate_limit) assert.ok("tenant_requests" in (p.rate_limit as object), p.id);
    }
  });

  test("a file without api_keys or tenant_requests still loads: unlimited keys, a tenant bucket of 10 × requests", () => {
    const plans = loadPlans(oldStylePlans());
    const p = plans.get("p");
    assert.equal(p?.limits.api_keys, null);
    assert.equal(p?.included.api_keys, null);
    assert.equal(p?.llm_budget_usd, null, "no LLM budget in the file: unlimited");
    assert.equal(plans.effective("p", {}).llmBudgetUsd, null);
    assert.deepEqual(p?.rate_limit, { requests: 50, window_seconds: 60, tenant_requests: 500 });
    assert.equal(plans.effective("p", {}).rateLimit?.tenantRequests, 500);
  });

  test("tenant_requests: null means no tenant-wide bucket; a bad value names the field", () => {
    const plans = loadPlans(
      oldStylePlans({ requests: 50, window_seconds: 60, tenant_requests: null }),
    );
    assert.equal(plans.effective("p", {}).rateLimit?.tenantRequests, null);
    assert.throws(
      () => loadPlans(oldStylePlans({ requests: 50, window_seconds: 60, tenant_requests: 0 })),
      (err: unknown) =>
        err instanceof PlansFileError && /rate_limit\/tenant_requests/.test(err.message),
    );
  });

  test("overrides: the per-key quota scales the tenant's; tenant_requests_per_window sets it; api_keys replaces the limit", () => {
    const plans = loadPlans();
    const scaled = plans.effective("developer", { requests_per_window: 10 });
    assert.deepEqual(scaled.rateLimit, { requests: 10, tenantRequests: 50, windowSeconds: 3600 });
    const set = plans.effective("developer", {
      requests_per_window: 10,
      tenant_requests_per_window: 15,
      window_seconds: 60,
    });
    assert.deepEqual(set.rateLimit, { requests: 10, tenantRequests: 15, windowSeconds: 60 });
    const none = plans.effective("developer", { tenant_requests_per_window: null });
    assert.deepEqual(none.rateLimit, { requests: 100, tenantRequests: null, windowSeconds: 3600 });
    assert.equal(plans.effective("developer", { requests_per_window: null }).rateLimit, null);
    // An unlimited plan given a per-key quota gets a tenant bucket of 10 × it.
    const enterprise = plans.effective("enterprise", { requests_per_window: 7 });
    assert.deepEqual(enterprise.rateLimit, {
      requests: 7,
      tenantRequests: 70,
      windowSeconds: 3600,
    });
    assert.equal(plans.effective("developer", { api_keys: 50 }).limits.api_keys, 50);
    assert.equal(plans.effective("developer", { api_keys: null }).limits.api_keys, null);
    assert.equal(plans.effective("developer", { llm_budget_usd: 7.5 }).llmBudgetUsd, 7.5);
    assert.equal(plans.effective("developer", { llm_budget_usd: null }).llmBudgetUsd, null);
  });
});

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
  assert.deepEqual(tier("developer").rateLimit, {
    requests: 100,
    tenantRequests: 500,
    windowSeconds: 3600,
  });
  assert.equal(tier("starter").limits.memory_operations, 100_000);
  assert.deepEqual(tier("starter").rateLimit, {
    requests: 100,
    tenantRequests: 1000,
    windowSeconds: 3600,
  });
  assert.equal(tier("growth").limits.memory_operations, 1_500_000);
  assert.deepEqual(tier("growth").rateLimit, {
    requests: 1000,
    tenantRequests: 25_000,
    windowSeconds: 3600,
  });
  assert.deepEqual(tier("enterprise").limits, unlimited);
  assert.deepEqual(
    ["developer", "starter", "growth", "enterprise", "self-hosted"].map(
      (id) => tier(id).llmBudgetUsd,
    ),
    [1, 20, 200, null, null],
  );
  assert.deepEqual(
    plans.list().map((p) => p.id),
    ["developer", "starter", "growth", "enterprise", "self-hosted"],
  );
});
