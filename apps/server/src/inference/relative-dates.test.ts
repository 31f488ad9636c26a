import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveDates } from "./relative-dates.ts";

const at = (iso: string): Date => new Date(iso);

test("relative dates resolve against the message's time across month and year boundaries", () => {
  const cases: [string, string, string, string][] = [
    [
      "I moved to Lisbon last month.",
      "2026-11-30T10:00:00Z",
      "I moved to Lisbon in October 2026.",
      "2026-10-01",
    ],
    [
      "I moved to Lisbon last month.",
      "2026-01-15T10:00:00Z",
      "I moved to Lisbon in December 2025.",
      "2025-12-01",
    ],
    [
      "I was sick yesterday.",
      "2026-03-01T09:00:00Z",
      "I was sick on 28 February 2026.",
      "2026-02-28",
    ],
    [
      "I was sick yesterday.",
      "2026-01-01T09:00:00Z",
      "I was sick on 31 December 2025.",
      "2025-12-31",
    ],
    ["I quit two weeks ago.", "2026-11-30T09:00:00Z", "I quit on 16 November 2026.", "2026-11-16"],
    ["We married last year.", "2026-01-02T09:00:00Z", "We married in 2025.", "2025-01-01"],
    [
      "I went to Rome in March.",
      "2026-11-30T09:00:00Z",
      "I went to Rome in March 2026.",
      "2026-03-01",
    ],
    [
      "I will go to Rome in March.",
      "2026-11-30T09:00:00Z",
      "I will go to Rome in March 2027.",
      "2027-03-01",
    ],
    [
      "I went there last week.",
      "2026-11-30T09:00:00Z",
      "I went there in the week of 23 November 2026.",
      "2026-11-23",
    ],
  ];
  for (const [sentence, time, text, day] of cases) {
    const resolved = resolveDates(sentence, at(time));
    assert.equal(resolved.text, text, `${sentence} said at ${time}`);
    assert.equal(
      resolved.eventDate?.toISOString().slice(0, 10),
      day,
      `${sentence} said at ${time}`,
    );
  }
});

test("next Friday said on a Thursday is the Friday of the following week (chrono-node's reading)", () => {
  // 2026-11-26 is a Thursday.
  const resolved = resolveDates("The party is next Friday.", at("2026-11-26T09:00:00Z"));
  assert.equal(resolved.text, "The party is on 4 December 2026.");
  assert.equal(resolved.eventDate?.toISOString(), "2026-12-04T00:00:00.000Z");
});

test("a date at the start of a sentence is capitalised; absolute dates and 'now' keep their words", () => {
  assert.equal(
    resolveDates("Yesterday I moved.", at("2026-03-01T09:00:00Z")).text,
    "On 28 February 2026 I moved.",
  );
  const born = resolveDates("I was born on 3 March 1990.", at("2026-03-01T09:00:00Z"));
  assert.equal(born.text, "I was born on 3 March 1990.");
  assert.equal(born.eventDate?.toISOString(), "1990-03-03T00:00:00.000Z");
  const now = resolveDates("I'm vegetarian now.", at("2026-03-01T09:00:00Z"));
  assert.equal(now.text, "I'm vegetarian now.");
  assert.equal(now.eventDate, null);
  assert.equal(
    resolveDates("I have 3 kids and 2 dogs.", at("2026-03-01T09:00:00Z")).eventDate,
    null,
  );
  assert.equal(
    resolveDates(
      "I have lived here since 2019.",
      at("2026-03-01T09:00:00Z"),
    ).eventDate?.toISOString(),
    "2019-01-01T00:00:00.000Z",
  );
});
