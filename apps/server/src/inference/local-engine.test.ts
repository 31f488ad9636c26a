import assert from "node:assert/strict";
import { test } from "node:test";
import { MEMORY_TEXT_MAX } from "@engram/contract";
import type { Fact, Neighbour, SourceMessage } from "./engine.ts";
import { createLocalEngine } from "./local-engine.ts";

const engine = createLocalEngine();
const NOV_30 = new Date("2026-11-30T10:00:00Z");

function user(
  content: string,
  opts: { speaker?: string | null; time?: Date; index?: number } = {},
): SourceMessage {
  return {
    index: opts.index ?? 0,
    role: "user",
    speaker: opts.speaker === undefined ? "Alice" : opts.speaker,
    content,
    time: opts.time ?? NOV_30,
  };
}

async function facts(...messages: SourceMessage[]): Promise<Fact[]> {
  const outcome = await engine.extract(messages);
  assert.deepEqual(outcome.calls, []);
  return outcome.value;
}

async function only(content: string, opts?: Parameters<typeof user>[1]): Promise<Fact> {
  const list = await facts(user(content, opts));
  assert.equal(list.length, 1, `one fact from ${JSON.stringify(content)}: ${JSON.stringify(list)}`);
  return list[0] as Fact;
}

test("a move is attributed to the speaker, dated, and states where they live", async () => {
  const fact = await only("I moved to Lisbon last month.");
  assert.equal(fact.text, "Alice moved to Lisbon in October 2026.");
  assert.equal(fact.validFrom, "2026-10-01T00:00:00.000Z");
  assert.deepEqual(fact.attribute, { subject: "alice", key: "lives_in", value: "Lisbon" });
  assert.equal(fact.negates, undefined);
  assert.deepEqual(fact.entities.sort(), ["alice", "lisbon"]);
  assert.deepEqual(fact.sources, [0]);
});

test("greetings, thanks, acknowledgements, emoji, questions and requests give no facts", async () => {
  const list = await facts(
    user("Hi there! 👋 Good morning."),
    user("Thanks so much, that sounds good. Ok. Sure! lol"),
    user(
      "Hey Mel! Thanks, Caroline! Melanie, that's gorgeous! Congrats on the new job. Glad you had fun. Have fun!",
    ),
    user("😀😀🎉"),
    user("Happy new year!!! 🎉 Merry Christmas! Happy birthday, Ana! Have a great weekend."),
    user("What do you think? Can you help me plan a trip?"),
    user("Tell me a joke. Please book a table for two."),
    {
      index: 1,
      role: "assistant",
      speaker: null,
      content: "You're welcome! I can help with that. Let me know.",
      time: NOV_30,
    },
    {
      index: 2,
      role: "system",
      speaker: null,
      content: "You are a helpful assistant. The user lives in Oslo.",
      time: NOV_30,
    },
    {
      index: 3,
      role: "tool",
      speaker: null,
      content: "Weather in Lisbon: 18 degrees and sunny.",
      time: NOV_30,
    },
  );
  assert.deepEqual(list, []);
});

test("a conversation keeps statements and drops the rest, with sources and speakers", async () => {
  const list = await facts(
    user("Hey! I'm a nurse and I work at St Mary's Hospital. Thanks!", { index: 0 }),
    {
      index: 1,
      role: "assistant",
      speaker: null,
      content: "That's great! Lisbon is the capital of Portugal. You should visit Belém.",
      time: NOV_30,
    },
    user("My sister lives in Paris. I really like tea.", { index: 2, speaker: "Bob" }),
  );
  assert.deepEqual(
    list.map((f) => [f.text, f.sources]),
    [
      ["Alice is a nurse.", [0]],
      ["Alice works at St Mary's Hospital.", [0]],
      ["Lisbon is the capital of Portugal.", [1]],
      ["Bob's sister lives in Paris.", [2]],
      ["Bob really likes tea.", [2]],
    ],
  );
  assert.deepEqual(list[0]?.attribute, { subject: "alice", key: "job_title", value: "nurse" });
  assert.deepEqual(list[1]?.attribute, {
    subject: "alice",
    key: "works_at",
    value: "St Mary's Hospital",
  });
  assert.deepEqual(list[3]?.attribute, {
    subject: "bob's sister",
    key: "lives_in",
    value: "Paris",
  });
  assert.equal(list[4]?.attribute, undefined);
});

test("first person becomes third person; uncertain rewrites quote the speaker", async () => {
  assert.equal((await only("I'm moving on.")).text, "Alice is moving on.");
  assert.equal((await only("I've been to Rome twice.")).text, "Alice has been to Rome twice.");
  assert.equal((await only("I don't eat fish.")).text, "Alice doesn't eat fish.");
  assert.equal(
    (await only("I study law and watch films.")).text,
    "Alice studies law and watches films.",
  );
  assert.equal((await only("I like to swim and run.")).text, "Alice likes to swim and run.");
  // Two statements joined by "and I" are read apart, and kept together as one memory (neither
  // states an attribute); with an attribute they are two.
  assert.deepEqual(
    (await facts(user("I study law and I watch films."))).map((f) => f.text),
    ["Alice studies law. Alice watches films."],
  );
  assert.deepEqual(
    (await facts(user("I live in Porto and I watch films."))).map((f) => f.text),
    ["Alice lives in Porto.", "Alice watches films."],
  );
  assert.equal(
    (await only("My wife and I live in Porto.")).text,
    "Alice's wife and Alice live in Porto.",
  );
  assert.equal(
    (await only("Bob called me about my car.")).text,
    "Bob called Alice about Alice's car.",
  );
  assert.equal(
    (await only("We went hiking yesterday.")).text,
    'Alice said: "We went hiking on 29 November 2026."',
  );
  assert.equal(
    (await only("Remember that I'm allergic to nuts.")).text,
    "Alice is allergic to nuts.",
  );
  const anonymous = await only("I live in Oslo.", { speaker: null });
  assert.equal(anonymous.text, "The user lives in Oslo.");
  assert.deepEqual(anonymous.attribute, { subject: "the user", key: "lives_in", value: "Oslo" });
});

test("relative dates in facts resolve across month and year boundaries", async () => {
  const december = await only("I started at Globex last month.", {
    time: new Date("2026-01-15T12:00:00Z"),
  });
  assert.equal(december.text, "Alice started at Globex in December 2025.");
  assert.equal(december.validFrom, "2025-12-01T00:00:00.000Z");
  assert.deepEqual(december.attribute, { subject: "alice", key: "works_at", value: "Globex" });
  const leap = await only("I got engaged yesterday!", { time: new Date("2026-03-01T08:00:00Z") });
  assert.equal(leap.text, "Alice got engaged on 28 February 2026!");
  assert.equal(leap.validFrom, "2026-02-28T00:00:00.000Z");
  assert.deepEqual(leap.attribute, {
    subject: "alice",
    key: "relationship_status",
    value: "engaged",
  });
  const plan = await only("We meet Bob next Friday.", { time: new Date("2026-11-26T09:00:00Z") });
  assert.equal(plan.text, 'Alice said: "We meet Bob on 4 December 2026."');
  assert.equal(plan.validFrom, "2026-11-26T09:00:00.000Z", "a plan holds from when it was said");
  const undated = await only("I work as a data scientist.");
  assert.equal(undated.validFrom, NOV_30.toISOString());
  assert.deepEqual(undated.attribute, {
    subject: "alice",
    key: "job_title",
    value: "data scientist",
  });
});

test("job changes, negations and preference changes carry attributes", async () => {
  const cases: [string, string, string, boolean][] = [
    ["I joined Stripe two weeks ago.", "works_at", "Stripe", false],
    ["I quit my job at Acme.", "works_at", "Acme", true],
    ["I don't work at Globex anymore.", "works_at", "Globex", true],
    ["I no longer live in Berlin.", "lives_in", "Berlin", true],
    ["I got promoted to senior engineer.", "job_title", "senior engineer", false],
    ["I'm a software engineer at Acme.", "works_at", "Acme", false],
    ["I'm single.", "relationship_status", "single", false],
    ["My boyfriend and I broke up.", "relationship_status", "single", false],
    ["I switched from coffee to tea.", "preference", "tea", false],
    ["I'm vegetarian now.", "preference", "vegetarian", false],
    ["I now prefer window seats.", "preference", "window seats", false],
  ];
  for (const [sentence, key, value, negates] of cases) {
    const fact = await only(sentence);
    assert.deepEqual(fact.attribute, { subject: "alice", key, value }, sentence);
    assert.equal(fact.negates === true, negates, sentence);
  }
});

test("traps state no attribute of the speaker", async () => {
  const traps = [
    "I visited Rome last week.",
    "I used to live in Berlin.",
    "I'd love to live in Tokyo.",
    "Maybe I'll move to Oslo.",
    "I'm thinking about moving to Madrid.",
    "If I worked at Google I would be rich.",
    "I'm a big fan of jazz.",
    "I joined a gym.",
    "He lives in Paris.",
  ];
  for (const sentence of traps) {
    const list = await facts(user(sentence));
    assert.equal(list.length, 1, sentence);
    assert.equal(list[0]?.attribute, undefined, sentence);
  }
  assert.deepEqual(
    await facts(user("Do you live in Paris?"), user("Do I still work at Acme?")),
    [],
  );
  const sister = await only("My sister works at Google.");
  assert.deepEqual(sister.attribute, {
    subject: "alice's sister",
    key: "works_at",
    value: "Google",
  });
});

test("mixed languages and emoji do not break extraction", async () => {
  const list = await facts(
    user(
      "Bonjour ! Merci beaucoup. Ich wohne seit Jahren in München. 今天天气很好。 Tôi yêu Hà Nội 🇻🇳. I love Lisbon 😍!",
    ),
  );
  const texts = list.map((f) => f.text);
  // Statements without attributes, in a row, are one memory.
  assert.deepEqual(texts, [
    "Ich wohne seit Jahren in München. 今天天气很好。 Tôi yêu Hà Nội 🇻🇳. Alice loves Lisbon 😍!",
  ]);
  assert.ok(!texts.some((t) => /bonjour|merci/i.test(t)), JSON.stringify(texts));
});

test("a 16,000-character message is split into its statements", async () => {
  const paragraph =
    "I moved to Lisbon last month and I love it. The tram to Belém is always full. Thanks! What else? ";
  const repeats = Math.ceil(16_000 / paragraph.length);
  const content = paragraph.repeat(repeats);
  assert.ok(content.length >= 16_000);
  const list = await facts(user(content));
  assert.equal(list.length, repeats * 2);
  // "… and I love it" is a clause of its own, and filler.
  assert.equal(list[0]?.text, "Alice moved to Lisbon in October 2026.");
  assert.equal(list[1]?.text, "The tram to Belém is always full.");
});

test("a rewrite never makes a fact longer than a memory may be", async () => {
  const content = "my cat and my dog and ".repeat(Math.floor(MEMORY_TEXT_MAX / 22));
  const list = await facts(user(content, { speaker: "Alexandrina" }));
  assert.equal(list.length, 1);
  assert.ok((list[0]?.text.length ?? 0) <= MEMORY_TEXT_MAX);
  assert.ok(list[0]?.text.startsWith("my cat and my dog"));
});

const nb = (
  id: string,
  memory: string,
  similarity: number,
  attribute: Neighbour["attribute"] = null,
): Neighbour => ({
  id,
  memory,
  similarity,
  attribute,
  validFrom: "2026-01-01T00:00:00.000Z",
});
const opts = { duplicateThreshold: 0.9 };

async function decide(content: string, neighbours: Neighbour[]) {
  const fact = await only(content);
  return (await engine.reconcile(fact, neighbours, opts)).value;
}

test("reconcile: a new value supersedes, the same value is a NOOP", async () => {
  const berlin = nb("mem_berlin", "Alice lives in Berlin.", 0.72, {
    subject: "alice",
    key: "lives_in",
  });
  const moved = await decide("I moved to Lisbon last month.", [
    nb("mem_x", "Alice likes tea.", 0.5),
    berlin,
  ]);
  assert.deepEqual(moved, {
    event: "UPDATE",
    targetId: "mem_berlin",
    supersede: true,
    text: "Alice moved to Lisbon in October 2026.",
    reason: "lives_in changed: Berlin → Lisbon",
  });
  const same = await decide("I live in Berlin.", [berlin]);
  assert.equal(same.event, "NOOP");
  assert.equal(same.targetId, "mem_berlin");
  for (const restated of ["I'm still based in Berlin.", "I live in Berlin now."]) {
    assert.equal((await decide(restated, [berlin])).event, "NOOP", restated);
  }
  // The same value with details the memory lacks enriches it in place.
  const detailed = await decide("I live in Berlin, in a small flat in Kreuzberg.", [berlin]);
  assert.deepEqual(
    [detailed.event, detailed.targetId, detailed.supersede],
    ["UPDATE", "mem_berlin", false],
  );
  assert.match(detailed.text, /Kreuzberg/);
  // Another person's attribute is not the speaker's.
  const sister = await decide("I live in Paris.", [
    nb("mem_s", "Alice's sister lives in Berlin.", 0.8, {
      subject: "alice's sister",
      key: "lives_in",
    }),
  ]);
  assert.equal(sister.event, "ADD");
  // A memory without recorded attribute is read by the same rules.
  const job = await decide("I joined Stripe.", [nb("mem_acme", "Alice works at Acme.", 0.6)]);
  assert.equal(job.event, "UPDATE");
  assert.equal(job.reason, "works_at changed: Acme → Stripe");
});

test("reconcile: a negation deletes the memory it negates, else adds", async () => {
  const acme = nb("mem_acme", "Alice works at Acme.", 0.7, { subject: "alice", key: "works_at" });
  const quit = await decide("I quit my job at Acme.", [acme]);
  assert.equal(quit.event, "DELETE");
  assert.equal(quit.targetId, "mem_acme");
  assert.equal(quit.text, "Alice works at Acme.");
  assert.match(quit.reason, /works_at of alice no longer holds: Acme/);
  assert.equal((await decide("I don't work at Globex anymore.", [acme])).event, "ADD");
  assert.equal((await decide("I no longer live in Berlin.", [])).event, "ADD");
  // Without a named employer, the current one is retracted.
  const anyJob = await decide("I quit my job.", [nb("mem_tea", "Alice likes tea.", 0.5), acme]);
  assert.equal(anyJob.event, "DELETE");
  assert.equal(anyJob.targetId, "mem_acme");
});

test("reconcile: preferences replace only what they name", async () => {
  const coffee = nb("mem_coffee", "Alice prefers coffee now.", 0.7, {
    subject: "alice",
    key: "preference",
  });
  const vegetarian = nb("mem_veg", "Alice is vegetarian.", 0.6, {
    subject: "alice",
    key: "preference",
  });
  const tea = await decide("I switched from coffee to tea.", [vegetarian, coffee]);
  assert.equal(tea.event, "UPDATE");
  assert.equal(tea.targetId, "mem_coffee");
  const vegan = await decide("I'm vegan now.", [coffee, vegetarian]);
  assert.equal(vegan.targetId, "mem_veg");
  assert.equal(vegan.reason, "preference changed: vegetarian → vegan");
  assert.equal((await decide("I now prefer aisle seats.", [coffee, vegetarian])).event, "ADD");
});

test("reconcile: near-duplicates are NOOP or enrich; different entities or low similarity add", async () => {
  const alps = nb("mem_alps", "Alice loves hiking in the Alps.", 0.95);
  const enriched = await decide("I love hiking in the Alps with my dog.", [alps]);
  assert.equal(enriched.event, "UPDATE");
  assert.equal(enriched.supersede, false);
  assert.equal(enriched.targetId, "mem_alps");
  assert.equal(enriched.text, "Alice loves hiking in the Alps with their dog.");
  assert.match(enriched.reason, /adds dog/);
  const known = await decide("I love hiking in the Alps.", [
    nb("mem_alps2", "Alice loves hiking in the Alps with her dog.", 0.96),
  ]);
  assert.equal(known.event, "NOOP");
  assert.equal(known.targetId, "mem_alps2");
  const merged = await decide("I love hiking in the Alps in winter.", [
    nb("mem_alps3", "Alice loves hiking in the Alps with her dog.", 0.93),
  ]);
  assert.equal(merged.event, "UPDATE");
  assert.equal(
    merged.text,
    "Alice loves hiking in the Alps with her dog. Alice loves hiking in the Alps in winter.",
  );
  assert.equal((await decide("I love hiking in the Pyrenees.", [alps])).event, "ADD");
  // An adverb adds nothing; a negation contradicts (supersedes); "anymore" retracts (deletes).
  const tea = nb("mem_tea", "Alice likes tea.", 0.95);
  assert.equal((await decide("I really like tea.", [tea])).event, "NOOP");
  const notTea = await decide("I don't like tea.", [tea]);
  assert.equal(notTea.event, "UPDATE");
  assert.equal(notTea.supersede, true);
  assert.equal(notTea.text, "Alice doesn't like tea.");
  assert.match(notTea.reason, /contradicts/);
  const noMoreTea = await decide("I don't like tea anymore.", [tea]);
  assert.deepEqual([noMoreTea.event, noMoreTea.targetId], ["DELETE", "mem_tea"]);
  assert.match(noMoreTea.reason, /no longer holds/);
  // A retraction finds what it retracts below the near-duplicate threshold, when it names
  // everything the memory says.
  const married = nb("mem_married", "Alice is married.", 0.7);
  const divorced = await decide("I'm not married anymore.", [married]);
  assert.deepEqual([divorced.event, divorced.targetId], ["DELETE", "mem_married"]);
  assert.equal(
    (await decide("I'm not married anymore.", [nb("mem_x", "Alice is married to Bo.", 0.7)])).event,
    "DELETE",
  );
  assert.equal(
    (await decide("I don't have a cat anymore.", [nb("mem_dog", "Alice has a dog.", 0.7)])).event,
    "ADD",
  );
  assert.equal(
    (
      await decide("I love hiking in the Alps.", [
        nb("mem_low", "Alice loves hiking in the Alps.", 0.5),
      ])
    ).event,
    "ADD",
  );
});

test("entities are the names a fact mentions, not capitalised first words", async () => {
  assert.deepEqual((await only("I work at St Mary's Hospital.")).entities, [
    "alice",
    "st mary's hospital",
  ]);
  assert.deepEqual((await only("Hiking in the Alps is fun.")).entities, ["alps"]);
  assert.deepEqual(
    (await only("My favourite book is Becoming Nicole by Amy Ellis Nutt.")).entities,
    ["alice", "becoming nicole", "amy ellis nutt"],
  );
});
