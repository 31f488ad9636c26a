import assert from "node:assert/strict";
import { test } from "node:test";
import { type PoolRow, rankPool } from "./ranking.ts";

const row = (id: string, over: Partial<PoolRow> = {}): PoolRow => ({
  id,
  vector: 0.2,
  keyword: 0,
  entity: 0,
  inWindow: false,
  validFrom: new Date("2024-01-01T00:00:00Z"),
  ...over,
});
const ids = (r: { id: string }[]) => r.map((x) => x.id);
const plain = { candidates: 40, entities: false, time: false };

test("vector and keyword lists fuse; first on both scores 1", () => {
  const rows = [row("a", { vector: 0.9, keyword: 3 }), row("b", { vector: 0.5, keyword: 1 })];
  const ranked = rankPool(rows, [], plain);
  assert.deepEqual(ids(ranked), ["a", "b"]);
  assert.equal(ranked[0]?.score, 1);
});

test("the entity list lifts a memory linked to the query's entities, and only when it takes part", () => {
  const rows = [
    row("a", { vector: 0.6, keyword: 2 }),
    row("b", { vector: 0.55, keyword: 1.9, entity: 1 }),
  ];
  assert.deepEqual(ids(rankPool(rows, [], plain)), ["a", "b"]);
  assert.deepEqual(ids(rankPool(rows, [], { ...plain, entities: true })), ["b", "a"]);
});

test("the time list lifts a memory inside the window, and only when it takes part", () => {
  const rows = [
    row("a", { vector: 0.6, keyword: 2 }),
    row("b", { vector: 0.55, keyword: 1.9, inWindow: true }),
  ];
  assert.deepEqual(ids(rankPool(rows, [], plain)), ["a", "b"]);
  assert.deepEqual(ids(rankPool(rows, [], { ...plain, time: true })), ["b", "a"]);
});

test("a memory takes in part of its best session neighbour's score", () => {
  const rows = [
    row("q", { vector: 0.9, keyword: 4 }),
    row("answer", { vector: 0.3 }),
    row("other", { vector: 0.35 }),
  ];
  assert.deepEqual(ids(rankPool(rows, [], plain)).slice(1), ["other", "answer"]);
  assert.deepEqual(ids(rankPool(rows, [["q", "answer"]], plain)).slice(1), ["answer", "other"]);
});

test("recency decays scores by half-life from the reference time", () => {
  const reference = new Date("2024-01-11T00:00:00Z");
  const rows = [
    row("old", { vector: 0.6, validFrom: new Date("2023-01-01T00:00:00Z") }),
    row("new", { vector: 0.55, validFrom: new Date("2024-01-10T00:00:00Z") }),
  ];
  assert.deepEqual(ids(rankPool(rows, [], plain)), ["old", "new"]);
  const ranked = rankPool(rows, [], {
    ...plain,
    recency: { halfLifeDays: 30, weight: 0.5, reference },
  });
  assert.deepEqual(ids(ranked), ["new", "old"]);
  const recent = ranked.find((r) => r.id === "new")?.recency ?? 0;
  assert.ok(Math.abs(recent - 0.5 ** (1 / 30)) < 1e-9);
});

test("a pool member on no list is left out, and each list keeps only `candidates`", () => {
  const rows = Array.from({ length: 5 }, (_, i) => row(`m${i}`, { vector: 0.1 * i }));
  const ranked = rankPool(rows, [], { ...plain, candidates: 2 });
  assert.deepEqual(ids(ranked), ["m4", "m3"]);
});
