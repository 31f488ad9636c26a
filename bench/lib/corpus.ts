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

// A low-diversity corpus: every memory from the same ~60 words (a few names, places and
// activities, repeated), as one user's memories are in practice. Keyword search then finds long
// posting lists for every word, and vectors crowd together.
const LD_NAMES = "Anna Ben Clara Dan Eva Finn Gina Hugo Iris Jack".split(" ");
const LD_VERBS = [
  "likes",
  "loves",
  "tried",
  "hates",
  "wants",
  "planned",
  "talked about",
  "started",
  "stopped",
  "misses",
];
const LD_THINGS =
  "running swimming cooking hiking reading painting cycling singing dancing fishing skiing tennis chess baking yoga".split(
    " ",
  );
const LD_PLACES = [
  "at home",
  "in the park",
  "at work",
  "in town",
  "at the lake",
  "with friends",
  "with family",
  "on Sunday",
  "in summer",
  "in winter",
];
const LD_SPACE = LD_NAMES.length * LD_VERBS.length * LD_THINGS.length * LD_PLACES.length;
const LD_QUERY_FORMS = [
  (n: string, t: string, p: string) => `Does ${n} like ${t} ${p}?`,
  (n: string, t: string, p: string) => `What about ${n} and ${t} ${p}?`,
  (n: string, t: string, p: string) => `Has ${n} tried ${t} ${p}?`,
];

/** How many distinct texts `lowDiversityText` yields (15,000). */
export const LOW_DIVERSITY_SPACE = LD_SPACE;

/** Digits of x in the mixed radix of these lists. */
function digits(x: number, radices: readonly number[]): number[] {
  return radices.map((r) => {
    const d = x % r;
    x = Math.floor(x / r);
    return d;
  });
}

/** The i-th low-diversity memory: distinct for every i below LOW_DIVERSITY_SPACE. */
export function lowDiversityText(i: number): string {
  // 7919 is prime and does not divide LD_SPACE, so this visits every combination once, spread out.
  const [n, v, t, p] = digits((i * 7919) % LD_SPACE, [
    LD_NAMES.length,
    LD_VERBS.length,
    LD_THINGS.length,
    LD_PLACES.length,
  ]);
  return `${LD_NAMES[n as number]} ${LD_VERBS[v as number]} ${LD_THINGS[t as number]} ${LD_PLACES[p as number]}.`;
}

/** How many distinct queries `lowDiversityQuery` yields. */
export const LOW_DIVERSITY_QUERY_SPACE =
  LD_NAMES.length * LD_THINGS.length * LD_PLACES.length * LD_QUERY_FORMS.length;

/** The i-th low-diversity query, from the same words. */
export function lowDiversityQuery(i: number): string {
  const [n, t, p, f] = digits((i * 7919) % LOW_DIVERSITY_QUERY_SPACE, [
    LD_NAMES.length,
    LD_THINGS.length,
    LD_PLACES.length,
    LD_QUERY_FORMS.length,
  ]);
  const form = LD_QUERY_FORMS[f as number] as (typeof LD_QUERY_FORMS)[number];
  return form(
    LD_NAMES[n as number] as string,
    LD_THINGS[t as number] as string,
    LD_PLACES[p as number] as string,
  );
}
