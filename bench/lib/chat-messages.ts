// Realistic single chat messages for the add-latency comparison: what a user says to an assistant
// in passing (facts about themselves and others, plans, changes, and some small talk and
// questions that keep nothing). Deterministic: message i is always the same text.

const CITIES = ["Lisbon", "Porto", "Berlin", "Leeds", "Denver", "Osaka", "Nairobi", "Montreal"];
const COMPANIES = ["Spotify", "Shopify", "Siemens", "the city council", "a small bakery", "Airbnb"];
const PEOPLE = ["my sister", "my boss", "my neighbour", "my best friend", "my dad", "my partner"];
const THINGS = ["pottery", "bouldering", "the cello", "Italian cooking", "trail running", "chess"];
const DAYS = ["yesterday", "last weekend", "on Friday", "last month", "this morning", "in March"];

const TEMPLATES: ((i: number) => string)[] = [
  (i) => `I moved to ${pick(CITIES, i)} ${pick(DAYS, i + 1)} and I'm still unpacking boxes.`,
  (i) => `I started a new job at ${pick(COMPANIES, i)} ${pick(DAYS, i + 2)}.`,
  (i) => `${cap(pick(PEOPLE, i))} just got back from ${pick(CITIES, i + 3)}, she loved it.`,
  (i) => `I've been getting into ${pick(THINGS, i)} lately, it really helps me switch off.`,
  (i) => `Can you remind me what time the train to ${pick(CITIES, i + 1)} leaves?`,
  (i) => `Thanks, that was really useful! (${i})`,
  (i) => `I'm allergic to shellfish, so please skip recipes with prawns. Note ${i}.`,
  (i) => `We're planning a trip to ${pick(CITIES, i + 5)} in the autumn with the kids.`,
  (i) => `I work at ${pick(COMPANIES, i + 1)} as a project coordinator.`,
  (i) =>
    `${cap(pick(PEOPLE, i + 2))} is turning ${30 + (i % 40)} next week and I have no idea what to get.`,
  (i) => `I prefer ${pick(THINGS, i + 3)} over going to the gym these days.`,
  (i) => `My daughter's school in ${pick(CITIES, i + 2)} starts at 8:15, which is brutal.`,
  (i) => `I used to live in ${pick(CITIES, i + 4)} before I went to university.`,
  (i) => `Ha, fair enough. Number ${i} on my list of things to try, I guess.`,
  (i) => `I don't work at ${pick(COMPANIES, i + 2)} anymore, I left ${pick(DAYS, i)}.`,
  (i) => `I ran ${5 + (i % 17)} km ${pick(DAYS, i + 3)} without stopping, a personal best.`,
];

const pick = <T>(xs: readonly T[], i: number): T => xs[i % xs.length] as T;
const cap = (s: string) => s[0]?.toUpperCase() + s.slice(1);

/** Chat message number i (small vocabularies, so some facts recur, as they do in real chat). */
export function chatMessage(i: number): string {
  const t = pick(TEMPLATES, i);
  return t(Math.floor(i / TEMPLATES.length) + i);
}
