import assert from "node:assert/strict";
import { test } from "node:test";
import { checkFilter } from "../search/filter-sql.ts";
import { translateFilters } from "./mem0-filters.ts";

// The translation itself, exactly; mem0-client.test.ts runs it through the real client and search.

test("scope ids in the conjunctive part become the scope; run_id is the session", () => {
  assert.deepEqual(translateFilters({ user_id: "a" }), { scope: { user_id: "a" } });
  assert.deepEqual(
    translateFilters({
      AND: [{ user_id: "a" }, { and: [{ run_id: { eq: "s" } }] }],
      agent_id: "g",
    }),
    { scope: { user_id: "a", session_id: "s", agent_id: "g" } },
  );
  assert.deepEqual(translateFilters(undefined), { scope: {} });
});

test("metadata and categories become Engram conditions under AND, OR and NOT", () => {
  const { scope, filters } = translateFilters({
    AND: [
      { user_id: "alice" },
      { OR: [{ metadata: { topic: "travel" } }, { categories: { in: ["food"] } }] },
      { NOT: [{ metadata: { status: { in: ["archived", "draft"] } } }] },
      { metadata: { rating: { gte: 4 }, title: { icontains: "Lisbon" } } },
    ],
  });
  assert.deepEqual(scope, { user_id: "alice" });
  assert.deepEqual(filters, {
    and: [
      { or: [{ topic: "travel" }, { categories: { in: ["food"] } }] },
      { not: { status: { in: ["archived", "draft"] } } },
      { and: [{ rating: { gte: 4 } }, { title: { contains: "Lisbon" } }] },
    ],
  });
  // What comes out is Engram's filter language, accepted by its compiler.
  checkFilter(filters, { categories: "to_jsonb(categories)" });
  // NOT of several filters: none of them may hold.
  assert.deepEqual(
    translateFilters({ NOT: [{ metadata: { a: 1 } }, { categories: "x" }] }).filters,
    { not: { or: [{ a: 1 }, { categories: "x" }] } },
  );
});

test("what does not map is invalid_filter naming the mem0 path", () => {
  const cases: [unknown, string][] = [
    [{ OR: [{ user_id: "a" }, { user_id: "b" }] }, "filters.OR[0].user_id"],
    [{ NOT: [{ agent_id: "g" }] }, "filters.NOT[0].agent_id"],
    [{ user_id: { in: ["a", "b"] } }, "filters.user_id"],
    [{ user_id: "*" }, "filters.user_id"],
    [{ AND: [{ user_id: "a" }, { user_id: "b" }] }, "filters.AND[1].user_id"],
    [{ app_id: "x" }, "filters.app_id"],
    [{ AND: [{ created_at: { gte: "2026-01-01" } }] }, "filters.AND[0].created_at"],
    [{ metadata: { k: { regex: "x" } } }, "filters.metadata.k.regex"],
    [{ categories: { gt: "a" } }, "filters.categories.gt"],
    [{ metadata: {} }, "filters.metadata"],
    [{ AND: [] }, "filters.AND"],
    [{}, "filters"],
    [{ colour: "red" }, "filters.colour"],
  ];
  for (const [filters, field] of cases) {
    assert.throws(
      () => translateFilters(filters),
      (err: { code?: string; field?: string }) =>
        err.code === "invalid_filter" && err.field === field,
      JSON.stringify(filters),
    );
  }
});
