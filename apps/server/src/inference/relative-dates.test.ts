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

test("durations and spans are not dates", () => {
  const ref = at("2026-11-30T10:00:00Z");
  for (const sentence of [
    "I've known these friends for 4 years.",
    "I've been running for 3 months.",
    "I'll be there within a week.",
    "We stayed for the weekend.",
    "In the next few months I'll decide.",
  ]) {
    const resolved = resolveDates(sentence, ref);
    assert.equal(resolved.text, sentence);
    assert.equal(resolved.eventDate, null, sentence);
  }
  assert.equal(
    resolveDates("I was there for two days last week.", ref).text,
    "I was there for two days in the week of 23 November 2026.",
  );
});

test("a weekday or month alone follows the sentence's tense", () => {
  const thursday = at("2026-11-26T10:00:00Z");
  const cases: [string, string][] = [
    ["I went there on Friday.", "I went there on 20 November 2026."],
    ["On Saturday I ran a race.", "On 21 November 2026 I ran a race."],
    ["We will meet on Wednesday.", "We will meet on 2 December 2026."],
    ["I'm going there on Monday.", "I'm going there on 30 November 2026."],
    ["I got married on May 5th.", "I got married on 5 May 2026."],
    ["I'll see him on 3 January.", "I'll see him on 3 January 2027."],
  ];
  for (const [sentence, text] of cases) assert.equal(resolveDates(sentence, thursday).text, text);
});
