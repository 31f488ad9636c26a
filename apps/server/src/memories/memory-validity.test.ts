import assert from "node:assert/strict";
import { before, test } from "node:test";
import { describeOnBackends } from "../testing/backend-suite.ts";
import { assertProblem } from "../testing/http.ts";

// Validity in search and list, and the category filter of search (docs/memories.md, "Validity and as_of"): current memories by
// default, those valid at `as_of`, or all with `include_superseded`. Supersession is simulated by
// setting valid_to and superseded_by in SQL as the database owner, with the server stopped.

const PARIS = "Alice lives in Paris";
const BERLIN = "Alice lives in Berlin";
const TEA = "Alice drinks green tea every morning";

describeOnBackends("memory validity", (suite) => {
  const { as, provision, withStoppedServer } = suite;
  let key = "";
  const id: Record<string, string> = {};
  /** Texts of a search's hits (any order). */
  const search = async (body: Record<string, unknown>) => {
    const r = await as(key, "POST", "/v1/memories/search", {
      query: "where does Alice live",
      user_id: "u",
      limit: 10,
      ...body,
    });
    assert.equal(r.status, 200, r.text);
    return (r.body.results as { memory: string }[]).map((h) => h.memory).sort();
  };
  /** Texts of a listing (any order); `query` is the query string after "?user_id=u". */
  const list = async (query = "") => {
    const r = await as(key, "GET", `/v1/memories?user_id=u${query}`);
    assert.equal(r.status, 200, r.text);
    return (r.body.results as { memory: string }[]).map((m) => m.memory).sort();
  };

  before(async () => {
    key = (await provision()).key;
    const added = [
      [PARIS, "2020-01-01T00:00:00.000Z"],
      [TEA, "2021-03-01T08:00:00.000Z"],
      [BERLIN, "2023-06-01T12:00:00.000Z"],
    ];
    for (const [text, timestamp] of added) {
      const r = await as(key, "POST", "/v1/memories", { text, timestamp, user_id: "u" });
      assert.equal(r.status, 201, r.text);
      id[text as string] = r.body.results[0].id;
    }
    // Berlin superseded Paris when it was said; inference would have given them categories.
    await withStoppedServer((db) =>
      db.asOwner(async (tx) => {
        await tx.query("UPDATE memories SET valid_to = $1, superseded_by = $2 WHERE id = $3", [
          "2023-06-01T12:00:00.000Z",
          id[BERLIN],
          id[PARIS],
        ]);
        await tx.query(
          `UPDATE memories SET categories = CASE WHEN id = $1 THEN '{preferences,health}'::text[]
             ELSE '{personal_details}'::text[] END`,
          [id[TEA]],
        );
      }),
    );
  });

  test("a memory added with a timestamp is valid from it, and current", async () => {
    const r = await as(key, "GET", `/v1/memories/${id[TEA]}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.valid_from, "2021-03-01T08:00:00.000Z");
    assert.equal(r.body.valid_to, null);
    assert.equal(r.body.superseded_by, null);
  });

  test("by default search and list return current memories only", async () => {
    assert.deepEqual(await search({}), [BERLIN, TEA].sort());
    assert.deepEqual(await search({ mode: "keyword", query: "lives" }), [BERLIN]);
    assert.deepEqual(await search({ mode: "vector" }), [BERLIN, TEA].sort());
    assert.deepEqual(await list(), [BERLIN, TEA].sort());
  });

  test("the keyword side without a scope leaves superseded memories out too", async () => {
    const r = await as(key, "POST", "/v1/memories/search", {
      query: "lives",
      mode: "keyword",
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(
      (r.body.results as { memory: string }[]).map((h) => h.memory),
      [BERLIN],
    );
  });

  test("include_superseded returns all, each with its validity", async () => {
    assert.deepEqual(await search({ include_superseded: true }), [BERLIN, PARIS, TEA].sort());
    assert.deepEqual(await list("&include_superseded=true"), [BERLIN, PARIS, TEA].sort());
    const r = await as(key, "GET", "/v1/memories?user_id=u&include_superseded=true");
    const paris = (r.body.results as Record<string, unknown>[]).find((m) => m.memory === PARIS);
    assert.equal(paris?.valid_from, "2020-01-01T00:00:00.000Z");
    assert.equal(paris?.valid_to, "2023-06-01T12:00:00.000Z");
    assert.equal(paris?.superseded_by, id[BERLIN]);
  });

  test("as_of returns the memories valid at that instant", async () => {
    const at = async (asOf: string) => {
      const q = `&as_of=${encodeURIComponent(asOf)}`;
      const listed = await list(q);
      assert.deepEqual(await search({ as_of: asOf }), listed, asOf);
      return listed;
    };
    assert.deepEqual(await at("2019-12-31T23:59:59.999Z"), []);
    // valid_from is inclusive, valid_to exclusive.
    assert.deepEqual(await at("2020-01-01T00:00:00.000Z"), [PARIS]);
    assert.deepEqual(await at("2022-01-01T00:00:00+05:00"), [PARIS, TEA].sort());
    assert.deepEqual(await at("2023-06-01T11:59:59.999Z"), [PARIS, TEA].sort());
    assert.deepEqual(await at("2023-06-01T12:00:00.000Z"), [BERLIN, TEA].sort());
    assert.deepEqual(await at("2030-01-01T00:00:00Z"), [BERLIN, TEA].sort());
    assert.deepEqual(
      await search({ as_of: "2022-01-01T00:00:00Z", mode: "keyword", query: "lives" }),
      [PARIS],
    );
  });

  test("as_of wins over include_superseded", async () => {
    const asOf = "2022-01-01T00:00:00Z";
    assert.deepEqual(await search({ as_of: asOf, include_superseded: true }), [PARIS, TEA].sort());
    assert.deepEqual(await list(`&as_of=${asOf}&include_superseded=true`), [PARIS, TEA].sort());
  });

  test("filters select by category, combined with validity", async () => {
    assert.deepEqual(await search({ filters: { categories: "health" } }), [TEA]);
    assert.deepEqual(await search({ filters: { categories: { ne: "health" } } }), [BERLIN]);
    assert.deepEqual(
      await search({
        filters: { categories: { in: ["personal_details"] } },
        include_superseded: true,
      }),
      [BERLIN, PARIS].sort(),
    );
    const r = await as(key, "GET", `/v1/memories/${id[TEA]}`);
    assert.deepEqual(r.body.categories, ["preferences", "health"]);
    const bad = await as(key, "POST", "/v1/memories/search", {
      query: "x",
      filters: { categories: { gt: "a" } },
    });
    assertProblem(bad, 400, "invalid_filter", "filters.categories.gt");
  });

  test("a malformed or out-of-range as_of is 400 validation_failed on as_of", async () => {
    for (const asOf of ["yesterday", "2024-13-01T00:00:00Z", "0000-01-01T00:00:00Z"]) {
      const s = await as(key, "POST", "/v1/memories/search", { query: "x", as_of: asOf });
      assertProblem(s, 400, "validation_failed", "as_of");
      const l = await as(key, "GET", `/v1/memories?as_of=${encodeURIComponent(asOf)}`);
      assertProblem(l, 400, "validation_failed", "as_of");
    }
  });
});
