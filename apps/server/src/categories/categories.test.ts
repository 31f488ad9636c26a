import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  describeOnBackends,
  expectProblem,
  expectUnauthenticated,
  keyWith,
  tenant,
} from "../testing/route-suite.ts";

// A project's memory categories: GET, PUT and DELETE /v1/categories.
// The same tests on each database backend (testing/route-suite.ts).

const WORK = { name: "work", description: "Jobs, employers, colleagues and careers" };
const PETS = { name: "pets_2", description: "Dogs, cats and other animals someone keeps" };

describeOnBackends("category routes", () => {
  describe("/v1/categories", () => {
    test("a project starts with the shipped defaults", async () => {
      const t = await tenant();
      const r = await t.client.getCategories();
      assert.equal(r.defaults, true);
      const names = r.categories.map((c) => c.name);
      for (const name of [
        "personal_details",
        "preferences",
        "health",
        "work",
        "relationships",
        "plans",
        "travel",
      ]) {
        assert.ok(names.includes(name), name);
      }
      for (const c of r.categories) {
        assert.match(c.name, /^[a-z0-9_]{1,40}$/);
        assert.ok(c.description.length > 20 && c.description.length <= 500, c.name);
      }
    });

    test("PUT replaces the list in order, DELETE goes back to the defaults; other tenants keep theirs", async () => {
      const t = await tenant();
      const other = await tenant();
      const put = await t.client.setCategories({ categories: [WORK, PETS] });
      assert.deepEqual(put, { categories: [WORK, PETS], defaults: false });
      assert.deepEqual(await t.client.getCategories(), put);
      assert.equal((await other.client.getCategories()).defaults, true);

      const again = await t.client.setCategories({ categories: [PETS] });
      assert.deepEqual(again.categories, [PETS]);
      const reset = await t.client.resetCategories();
      assert.equal(reset.defaults, true);
      assert.deepEqual(await t.client.getCategories(), reset);
    });

    test("an empty list means no categories", async () => {
      const t = await tenant();
      assert.deepEqual(await t.client.setCategories({ categories: [] }), {
        categories: [],
        defaults: false,
      });
      assert.deepEqual((await t.client.getCategories()).categories, []);
    });

    test("each change is in the audit log with the names set", async () => {
      const t = await tenant();
      await t.client.setCategories({ categories: [WORK] });
      await t.client.resetCategories();
      const { results } = await t.client.listAudit();
      const changes = results.filter((e) => e.action === "categories.set");
      assert.deepEqual(
        changes.map((e) => (e.details as { categories: unknown }).categories),
        ["defaults", ["work"]],
      );
    });

    test("bad lists are 400 validation_failed on the field; nothing changes", async () => {
      const t = await tenant();
      const bad: [unknown[], string][] = [
        [[{ name: "Work", description: "x" }], "categories[0].name"],
        [[{ name: "a-b", description: "x" }], "categories[0].name"],
        [[{ name: "x".repeat(41), description: "x" }], "categories[0].name"],
        [[{ name: "", description: "x" }], "categories[0].name"],
        [[WORK, { name: "w", description: "x".repeat(501) }], "categories[1].description"],
        [[{ name: "w", description: "" }], "categories[0].description"],
        [[{ name: "w" }], "categories[0].description"],
        [[{ ...WORK, extra: 1 }], "categories[0].extra"],
        [Array.from({ length: 51 }, (_, i) => ({ name: `c${i}`, description: "x" })), "categories"],
        [[WORK, PETS, { ...WORK, description: "again" }], "categories[2].name"],
      ];
      for (const [categories, field] of bad) {
        await expectProblem(
          t.client.setCategories({ categories } as never),
          400,
          "validation_failed",
          field,
        );
      }
      assert.equal((await t.client.getCategories()).defaults, true);
      // The limits themselves are accepted.
      const fifty = Array.from({ length: 50 }, (_, i) => ({
        name: `c${i}_${"x".repeat(36)}`.slice(0, 40),
        description: "d".repeat(500),
      }));
      assert.equal((await t.client.setCategories({ categories: fifty })).categories.length, 50);
    });

    test("reading needs memories:read, changing memories:write", async () => {
      const t = await tenant();
      const reader = await keyWith(t, ["memories:read"]);
      const writer = await keyWith(t, ["memories:write"]);
      assert.equal((await reader.getCategories()).defaults, true);
      await expectProblem(reader.setCategories({ categories: [WORK] }), 403, "forbidden");
      await expectProblem(reader.resetCategories(), 403, "forbidden");
      await expectProblem(writer.getCategories(), 403, "forbidden");
      assert.deepEqual((await writer.setCategories({ categories: [WORK] })).categories, [WORK]);
      assert.deepEqual((await reader.getCategories()).categories, [WORK]);
    });

    test("without a key: 401", async () => {
      await expectUnauthenticated("GET", "/v1/categories");
      await expectUnauthenticated("PUT", "/v1/categories", { categories: [] });
      await expectUnauthenticated("DELETE", "/v1/categories");
    });
  });
});
