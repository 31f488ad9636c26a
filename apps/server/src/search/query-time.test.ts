import assert from "node:assert/strict";
import { test } from "node:test";
import { timeWindowOf } from "./query-time.ts";

const REF = new Date("2023-08-15T12:00:00Z");
const window = (q: string, ref = REF) => {
  const w = timeWindowOf(q, ref);
  return w && [w.from.toISOString().slice(0, 10), w.to.toISOString().slice(0, 10)];
};

test("a month and year name that month", () => {
  assert.deepEqual(window("What did Caroline do in May 2023?"), ["2023-05-01", "2023-06-01"]);
  assert.deepEqual(window("what happened last month"), ["2023-07-01", "2023-08-01"]);
});

test("a year names the calendar year, a bare one too", () => {
  assert.deepEqual(window("trips last year"), ["2022-01-01", "2023-01-01"]);
  assert.deepEqual(window("what did I read in 2021"), ["2021-01-01", "2022-01-01"]);
  assert.deepEqual(window("goals for this year"), ["2023-01-01", "2024-01-01"]);
});

test("a day names that day", () => {
  assert.deepEqual(window("what did I eat yesterday"), ["2023-08-14", "2023-08-15"]);
  assert.deepEqual(window("the concert on 3 March 2023"), ["2023-03-03", "2023-03-04"]);
});

test("a relative week is one week around the day it resolves to", () => {
  assert.deepEqual(window("who did I meet two weeks ago"), ["2023-07-29", "2023-08-05"]);
  const w = timeWindowOf("last weekend", REF);
  assert.ok(w && w.to.getTime() - w.from.getTime() === 3 * 86_400_000);
});

test("seasons are three months; last summer is the latest finished one", () => {
  assert.deepEqual(window("What did we do last summer?"), ["2022-06-01", "2022-09-01"]);
  assert.deepEqual(window("last summer", new Date("2023-10-01T00:00:00Z")), [
    "2023-06-01",
    "2023-09-01",
  ]);
  assert.deepEqual(window("plans for next winter"), ["2023-12-01", "2024-03-01"]);
  assert.deepEqual(window("summer 2021 trip"), ["2021-06-01", "2021-09-01"]);
});

test("queries without a time name none", () => {
  assert.equal(timeWindowOf("When did Melanie paint a sunrise?", REF), undefined);
  assert.equal(timeWindowOf("What does Alice like about summer", REF), undefined);
  assert.equal(timeWindowOf("", REF), undefined);
});
