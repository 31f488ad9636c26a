import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import type { EntityType } from "@engram/contract";
import { ENTITIES_PER_TEXT_MAX, extractEntities } from "./entity-extraction.ts";
import { normalizeName, queryNames } from "./entity-names.ts";

// Local extraction on hand-written conversations (fixtures/conversations.json) and the rules one
// at a time. No database: extraction runs before the write's transaction.

interface FixtureMessage {
  name: string;
  timestamp: string;
  content: string;
  expected: [string, EntityType][];
  absent?: string[];
  aliases?: [string, string][];
}
const fixtures = JSON.parse(
  readFileSync(new URL("./fixtures/conversations.json", import.meta.url), "utf8"),
) as { conversations: { id: string; speakers: string[]; messages: FixtureMessage[] }[] };

const names = (text: string, hints: Parameters<typeof extractEntities>[1] = {}) =>
  extractEntities(text, hints).entities.map((e) => [e.name, e.type]);

describe("entity extraction on hand-written conversations", () => {
  for (const conversation of fixtures.conversations) {
    test(conversation.id, () => {
      for (const m of conversation.messages) {
        const out = extractEntities(m.content, {
          time: new Date(m.timestamp),
          speakers: conversation.speakers,
          firstPersonSpeaker: m.name,
        });
        const found = new Map(out.entities.map((e) => [e.name, e]));
        for (const [name, type] of m.expected) {
          assert.equal(
            found.get(name)?.type,
            type,
            `${name} in "${m.content}": ${JSON.stringify(out.entities)}`,
          );
        }
        for (const name of m.absent ?? []) {
          assert.ok(
            !out.entities.some((e) => normalizeName(e.name) === normalizeName(name)),
            `${name} is not an entity of "${m.content}"`,
          );
        }
        for (const [name, alias] of m.aliases ?? []) {
          assert.ok(found.get(name)?.aliases.includes(alias), `${name} has alias ${alias}`);
        }
        assert.deepEqual(out.relations, [], "verbatim text states no relation");
      }
    });
  }
});

describe("entity extraction rules", () => {
  test("a first-person text mentions its speaker; a third-person one does not", () => {
    assert.deepEqual(names("I love hiking.", { firstPersonSpeaker: "Caroline" }), [
      ["Caroline", "person"],
    ]);
    assert.deepEqual(names("My dog is old.", { firstPersonSpeaker: "Caroline" }), [
      ["Caroline", "person"],
    ]);
    assert.deepEqual(names("The weather is nice.", { firstPersonSpeaker: "Caroline" }), []);
  });

  test("speakers are people wherever they appear, in any case", () => {
    assert.deepEqual(names("alice moved to Lisbon.", { speakers: ["alice"] }), [
      ["Lisbon", "place"],
      ["alice", "person"],
    ]);
    assert.deepEqual(names("Thanks, Melanie!", { speakers: ["Melanie"] }), [["Melanie", "person"]]);
  });

  test("dates are ISO 8601 names resolved against the message's time, with their words as aliases", () => {
    const time = new Date("2026-11-29T10:00:00Z");
    const out = extractEntities(
      "Yesterday I met Bo. Last month was busy. We met on 3 May 1990 and married in 2001.",
      { time },
    );
    const dates = out.entities.filter((e) => e.type === "date");
    assert.deepEqual(
      dates.map((d) => [d.name, d.aliases]),
      [
        ["2026-11-28", ["28 November 2026"]],
        ["2026-10", ["October 2026"]],
        ["1990-05-03", ["3 May 1990"]],
        ["2001", []],
      ],
    );
    // "now", durations and relative words never become aliases (a query saying "yesterday"
    // must not find every date).
    assert.deepEqual(names("I have lived here for 4 years, right now.", { time }), []);
  });

  test("titles and company suffixes give aliases; names in a list share the type before them", () => {
    const out = extractEntities("Prof. Ada Byrne joined Initech Ltd with Ravi, Lena and Jo.");
    const by = new Map(out.entities.map((e) => [e.name, e]));
    assert.deepEqual(by.get("Prof. Ada Byrne")?.aliases, ["Ada Byrne"]);
    assert.equal(by.get("Prof. Ada Byrne")?.type, "person");
    assert.deepEqual(by.get("Initech Ltd")?.aliases, ["Initech"]);
    assert.equal(by.get("Initech Ltd")?.type, "organization");
    for (const n of ["Ravi", "Lena", "Jo"]) assert.equal(by.get(n)?.type, "person", n);
  });

  test("attribute statements type their values even without a preposition rule", () => {
    assert.deepEqual(names("I live in Springfield."), [["Springfield", "place"]]);
    assert.deepEqual(names("I joined Umbrella last week.", { time: new Date("2025-01-15Z") }), [
      ["Umbrella", "organization"],
      ["2025-W02", "date"],
    ]);
  });

  test("an inferred fact's lives_in and works_at attributes become relations", () => {
    const lives = extractEntities("Alice moved to Lisbon in October 2026.", {
      speakers: ["Alice"],
      attribute: { subject: "alice", key: "lives_in", value: "Lisbon" },
    });
    const [relation] = lives.relations;
    assert.equal(lives.relations.length, 1);
    assert.equal(lives.entities[relation?.subject as number]?.name, "Alice");
    assert.equal(lives.entities[relation?.subject as number]?.type, "person");
    assert.equal(relation?.predicate, "lives_in");
    assert.equal(lives.entities[relation?.object as number]?.name, "Lisbon");
    assert.equal(lives.entities[relation?.object as number]?.type, "place");

    const works = extractEntities("bob works at the Acme Group.", {
      attribute: { subject: "bob", key: "works_at", value: "the Acme Group" },
    });
    assert.deepEqual(
      works.relations.map((r) => [
        works.entities[r.subject]?.name,
        r.predicate,
        works.entities[r.object]?.name,
        works.entities[r.object]?.type,
      ]),
      [["Bob", "works_at", "Acme Group", "organization"]],
    );
  });

  test("no relation from a retraction, a common-noun value, another attribute or an unnamed subject", () => {
    const none = (
      text: string,
      attribute: { subject: string; key: string; value: string },
      negates = false,
    ) => extractEntities(text, { attribute, negates }).relations;
    assert.deepEqual(
      none(
        "Alice no longer lives in Berlin.",
        { subject: "alice", key: "lives_in", value: "Berlin" },
        true,
      ),
      [],
    );
    assert.deepEqual(
      none("Alice lives in the countryside.", {
        subject: "alice",
        key: "lives_in",
        value: "the countryside",
      }),
      [],
    );
    assert.deepEqual(
      none("Alice is a nurse.", { subject: "alice", key: "job_title", value: "nurse" }),
      [],
    );
    assert.deepEqual(
      none("The user lives in Oslo.", { subject: "the user", key: "lives_in", value: "Oslo" }),
      [],
    );
    assert.deepEqual(
      none("Alice's sister lives in Oslo.", {
        subject: "alice's sister",
        key: "lives_in",
        value: "Oslo",
      }),
      [],
    );
  });

  test("one entity per name in a text; at most ENTITIES_PER_TEXT_MAX; long, foreign and empty texts", () => {
    assert.deepEqual(names("Paris. We loved Paris! Paris again."), [["Paris", "other"]]);
    const many = Array.from(
      { length: 80 },
      (_, i) => `Person${String.fromCharCode(65 + (i % 26))}${i}`,
    );
    const crowd = extractEntities(`${many.map((n) => `${n} came.`).join(" ")}`);
    assert.equal(crowd.entities.length, ENTITIES_PER_TEXT_MAX);
    assert.deepEqual(names(""), []);
    assert.deepEqual(names("今日は東京に行きました。🎉"), []);
    const long = "Zara visited Quito. ".repeat(800);
    assert.deepEqual(names(long), [
      ["Zara", "other"],
      ["Quito", "place"],
    ]);
    // An invalid time (a leap second read by Date) falls back to now instead of NaN dates.
    const dated = extractEntities("I saw Kim yesterday.", { time: new Date("nonsense") });
    assert.match(dated.entities.find((e) => e.type === "date")?.name ?? "", /^\d{4}-\d{2}-\d{2}$/);
  });
});

describe("entity names", () => {
  test("normalisation: case, punctuation, possessives and a leading article", () => {
    assert.equal(normalizeName("Dr. Smith's"), "dr smith");
    assert.equal(normalizeName("  The Beatles "), "beatles");
    assert.equal(normalizeName("St. Mary’s Hospital"), "st mary hospital");
    assert.equal(normalizeName("AT&T"), "at&t");
    assert.equal(normalizeName("2023-05-07"), "2023-05-07");
    assert.equal(normalizeName("ÉCOLE Polytechnique"), "école polytechnique");
    assert.equal(normalizeName("!!!"), "");
  });

  test("a query's names: 1- to 3-word n-grams, any case, without single function words", () => {
    const grams = queryNames("What did Dr. Smith say in New York on 7 May 2023?");
    for (const g of ["dr smith", "smith", "new york", "7 may 2023", "2023", "york"]) {
      assert.ok(grams.includes(g), g);
    }
    for (const g of ["what", "did", "in", "on", "may"]) assert.ok(!grams.includes(g), g);
    assert.deepEqual(queryNames("where does alice live"), queryNames("Where does Alice live?"));
    assert.deepEqual(queryNames("the of and"), ["of and"]);
    assert.deepEqual(queryNames(""), []);
    // A long query is bounded: the first 256 words, at most 3 n-grams each.
    assert.ok(queryNames("word ".repeat(5_000)).length <= 3 * 256);
  });
});
