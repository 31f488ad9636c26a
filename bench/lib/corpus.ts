// Deterministic synthetic memories and queries for load benchmarks: varied, realistic-looking
// personal facts, so embeddings spread out like real ones (unlike random vectors).
const NAMES =
  "Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy Rupert Sybil Trent Victor Walter Yara Zoe Liam Emma Noah Ava Mia Lucas Aria Ethan Chloe".split(
    " ",
  );
const VERBS = [
  "enjoys",
  "started learning",
  "gave up",
  "is planning",
  "talked about",
  "loves",
  "is worried about",
  "recommended",
  "bought supplies for",
  "wants to try",
];
const THINGS =
  "pottery hiking salsa dancing sourdough baking chess rock climbing watercolor painting the violin gardening marathon training birdwatching knitting photography scuba diving yoga woodworking astronomy poetry skateboarding sailing camping podcasting calligraphy beekeeping origami fencing surfing bouldering journaling kayaking archery".split(
    " ",
  );
const PLACES = [
  "in Lisbon",
  "at the community center",
  "with her sister",
  "with his kids",
  "after work",
  "on weekends",
  "during the summer",
  "near the lake",
  "in the new apartment",
  "with friends from college",
  "at the library",
  "before the trip to Japan",
];
const EXTRAS = [
  "because it helps with stress",
  "since last spring",
  "and wants to get better",
  "but finds it expensive",
  "and posted photos online",
  "to meet new people",
  "despite a knee injury",
  "for a charity event",
  "as a birthday surprise",
  "after reading a book about it",
];

function pick<T>(list: readonly T[], seed: number): T {
  return list[seed % list.length] as T;
}

function mix(i: number, salt: number): number {
  let x = (i + 1) * 2654435761 + salt * 40503;
  x ^= x >>> 13;
  x = Math.imul(x, 0x5bd1e995);
  x ^= x >>> 15;
  return x >>> 0;
}

/** The i-th synthetic memory text (unique for every i). */
export function memoryText(i: number): string {
  const thing = pick(THINGS, mix(i, 2));
  return `${pick(NAMES, mix(i, 1))} ${pick(VERBS, mix(i, 3))} ${thing} ${pick(PLACES, mix(i, 4))} ${pick(EXTRAS, mix(i, 5))} (note ${i}).`;
}

const FORMS = [
  (n: string, t: string) => `What does ${n} think about ${t}?`,
  (n: string, t: string) => `Has ${n} ever tried ${t}?`,
  (n: string, t: string) => `Which hobby involving ${t} did ${n} mention?`,
  (n: string, t: string) => `When did ${n} start with ${t}?`,
];

/** How many distinct queries `queryText` yields. */
export const QUERY_SPACE = NAMES.length * THINGS.length * FORMS.length;

/** The i-th search query: distinct for every i below QUERY_SPACE, so a fresh range never hits a cache. */
export function queryText(i: number): string {
  const name = NAMES[i % NAMES.length] as string;
  const thing = THINGS[Math.floor(i / NAMES.length) % THINGS.length] as string;
  const form = FORMS[
    Math.floor(i / (NAMES.length * THINGS.length)) % FORMS.length
  ] as (typeof FORMS)[number];
  return form(name, thing);
}
