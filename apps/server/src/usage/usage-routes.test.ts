import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeOnBackends } from "../testing/backend-suite.ts";
import { TINY_TEST_PLAN } from "../testing/test-server.ts";

describeOnBackends("usage routes", (suite) => {
  const { admin, as, provision, add } = suite;

  describe("GET /v1/usage and the invoice preview", () => {
    test("Enterprise is unlimited: every limit is null", async () => {
      const t = await provision({ plan: "enterprise" });
      const usage = await as(t.key, "GET", "/v1/usage");
      for (const m of usage.body.metrics) assert.equal(m.limit, null, m.metric);
      assert.equal((await add(t.key, "x")).status, 201);
    });

    test("invoice preview: the plan price plus overage lines per operation and per GB-month", async () => {
      const t = await provision({ plan: TINY_TEST_PLAN });
      for (const text of ["a", "b", "c", "d", "e"])
        assert.equal((await add(t.key, text)).status, 201);
      const r = await admin("GET", `/v1/admin/tenants/${t.id}/invoice-preview`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.plan, TINY_TEST_PLAN);
      const [plan, ops, storage] = r.body.lines;
      assert.deepEqual(plan, {
        description: "Tiny (tests) plan",
        quantity: 1,
        unit_price_usd: 10,
        amount_usd: 10,
      });
      assert.equal(ops.quantity, 2, "5 operations, 3 included");
      assert.equal(ops.unit_price_usd, 0.002);
      assert.equal(ops.amount_usd, 0); // 2 × $0.002, rounded to the cent
      // 5 × (1 byte + '{}' + 2048) = 10,255 bytes; 3,000 included.
      assert.equal(storage.quantity, Math.round(((10_255 - 3000) / 1e9) * 1000) / 1000);
      assert.equal(storage.unit_price_usd, 0.15);
      assert.equal(r.body.total_usd, 10);
    });
  });
});
