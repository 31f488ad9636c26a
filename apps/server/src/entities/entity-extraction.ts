import { ENTITY_NAME_MAX, type EntityType } from "@engram/contract";
import { detectAttribute } from "../inference/attributes.ts";
import type { EntityMention, Extraction, RelationMention } from "../inference/engine.ts";
import { joinTokens, nameRuns, type Sentence, sentencesOf, type Token } from "../inference/nlp.ts";
import { bareYears, datesIn, dateWords, type ResolvedDate } from "../inference/relative-dates.ts";
import { normalizeName } from "./entity-names.ts";

/**
 * Local entity extraction (docs/entities.md, ADR 0029): wink-nlp's name runs (inference/nlp.ts)
 * typed by rules over the words in and around them, and chrono-node's dates as ISO 8601 names.
 * No model beyond wink's small English one: about a millisecond per kilobyte of text.
 */

/** Most entities taken from one text; a text naming more keeps its first ones. */
export const ENTITIES_PER_TEXT_MAX = 50;
/** Most aliases kept per entity. */
const ALIASES_MAX = 10;

export interface ExtractionHints {
  /** When the text was said: relative dates resolve against it (default: now). */
  time?: Date | undefined;
  /** The names of the people in the conversation (messages' `name`s): people wherever they appear. */
  speakers?: readonly string[] | undefined;
  /** Who said a first-person text: the text is about them, so it mentions them. */
  firstPersonSpeaker?: string | null | undefined;
  /** Who said the text (a message's `name`): linked as its speaker. */
  speaker?: string | null | undefined;
  /** The attribute an inferred fact states: its value's type, and (unless negated) a relation. */
  attribute?: { subject: string; key: string; value: string } | undefined;
  negates?: boolean | undefined;
}

const words = (list: string): Set<string> => new Set(list.split(/\s+/).filter(Boolean));

/** A run starting with one of these (and more words) is a person: "Dr. Smith", "Aunt May". */
const TITLES = words(
  "dr doctor mr mrs ms miss mx prof professor sir dame lord lady aunt auntie uncle grandma grandpa granny coach captain capt rev reverend pastor rabbi imam father president senator judge officer detective",
);
/** Names that are events on their own. */
const HOLIDAYS = words(
  "christmas easter thanksgiving halloween hanukkah diwali ramadan eid passover pride holi purim kwanzaa",
);
/** A run ending in one of these is an event: "Glastonbury Festival", "Christmas Day". */
const EVENT_WORDS = words(
  "festival conference summit expo fair marathon concert olympics games cup championship championships tournament wedding party parade ceremony gala convention hackathon meetup retreat workshop week day eve fest race",
);
/** Company suffixes: the run is an organisation, and the name without it an alias. */
const CORPORATE = words("inc corp co ltd llc gmbh ag sa plc lp llp bv nv pty srl spa");
/** A run containing one of these is an organisation: "Stanford University", "Acme Group". */
const ORGANIZATION_WORDS = words(
  "university college school academy institute hospital clinic bank foundation association society agency ministry department council committee corporation company group labs laboratories studios airlines airways fc union",
);
/** A run ending in one of these (or starting with the first few) is a place. */
const PLACE_WORDS = words(
  "street road avenue boulevard lane square park lake river mountain mountains beach island islands bay valley county city town village airport station bridge tower canyon falls forest desert sea ocean coast peninsula state province district hills heights mall stadium arena museum gallery zoo cathedral church temple palace castle harbour harbor port",
);
const PLACE_FIRST = words("mount mt lake lakes cape fort port saint san santa");
/** "my sister Anna", "Sarah's husband": a relation word next to a name makes it a person. */
const RELATIONS = words(
  "sister brother mother mom mum father dad wife husband partner boyfriend girlfriend fiance fiancé fiancee fiancée son daughter friend boss manager colleague coworker cousin aunt uncle grandmother grandfather grandma grandpa roommate flatmate neighbor neighbour niece nephew teacher mentor therapist kid kids child children baby parents",
);
/** Verbs whose object is a person: "met Mark", "called Jenny". */
const PERSON_OBJECT = words(
  "met meet meeting told tell telling asked ask called call texted text emailed married marry marrying dating hugged thanked invited",
);
/** Verbs whose subject is a person: "Caroline said", "Mark went". */
const PERSON_SUBJECT = words(
  "said says told tells asked asks thinks thought loves loved likes liked wants wanted went goes came comes called calls texted met married feels felt smiled laughed replied",
);
/** Verbs and words whose object is a product: "bought a Tesla", "using Notion". */
const PRODUCT_OBJECT = words(
  "bought buy buying purchased ordered order own owns using use uses installed downloaded drive drives driving play playing played upgraded",
);
/** Prepositions and verbs whose object is a place: "in Lisbon", "visited Rome". */
const PLACE_OBJECT = words(
  "in from to near around across at into toward towards through visit visited visiting outside via throughout",
);
/** Words skipped when looking at what comes before a name: "bought a new Tesla". */
const FILLERS = words("the a an my our his her their your its new old this that some");

/**
 * Capitalised words a sentence starts with that are never names on their own: exclamations
 * ("Nice!", "Wow,") and times (chrono reads those as dates).
 */
const NOT_A_NAME = words(
  "nice wow great cool awesome sure yes yeah yep no nope congrats congratulations sorry oh ah aw wait well amazing perfect right indeed absolutely totally yesterday today tomorrow tonight",
);

/** A lower-case word with a capital inside ("iPhone", "eBay"): a product's name. */
const CAMEL = /^\p{Ll}+\p{Lu}[\p{L}\p{N}]*$/u;
/** "I", "I'm", "me", "my": a first-person text. */
const FIRST_PERSON = /(?:^|[^\p{L}'’])(?:I|[Mm]e|[Mm]y|[Mm]ine|[Mm]yself)(?=$|[^\p{L}])/u;

const stripDot = (w: string): string => w.replace(/\.$/, "");

/** The type rules can give a run from its own words, before looking around it. */
function typeByWords(runWords: string[]): EntityType | undefined {
  const first = stripDot(runWords[0] ?? "");
  const last = stripDot(runWords[runWords.length - 1] ?? "");
  if (runWords.length > 1 && TITLES.has(first)) return "person";
  if (HOLIDAYS.has(first) || EVENT_WORDS.has(last)) return "event";
  if (
    (runWords.length > 1 && CORPORATE.has(last)) ||
    runWords.some((w) => ORGANIZATION_WORDS.has(w))
  )
    return "organization";
  if (PLACE_WORDS.has(last) || (runWords.length > 1 && PLACE_FIRST.has(first))) return "place";
  return undefined;
}

/** The words before token `i`, nearest first, skipping articles and the like. */
function before(tokens: readonly Token[], i: number): string[] {
  const out: string[] = [];
  for (let j = i - 1; j >= 0 && out.length < 2; j--) {
    const t = tokens[j] as Token;
    if (t.type !== "word") break;
    if (out.length === 0 && FILLERS.has(t.normal)) continue;
    out.push(t.normal);
  }
  return out;
}

/** Only list separators between two names: "Mark and Jenny", "Rome, Paris or Lyon". */
const listed = (between: readonly Token[]): boolean =>
  between.length > 0 && between.every((t) => /^(?:and|or|,|&)$/.test(t.normal));

/** The type the words around a run give it. */
function typeByContext(tokens: readonly Token[], start: number, end: number, size: number) {
  const [prev] = before(tokens, start);
  const next = tokens[end]?.normal;
  const afterNext = tokens[end + 1]?.normal;
  if (prev !== undefined && RELATIONS.has(prev)) return "person";
  if (next === "'s" && afterNext !== undefined && RELATIONS.has(afterNext)) return "person";
  if (next === "and" && afterNext === "i") return "person";
  if (next !== undefined && PERSON_SUBJECT.has(next) && size <= 3) return "person";
  if (prev !== undefined && PRODUCT_OBJECT.has(prev)) return "product";
  if (prev !== undefined && PERSON_OBJECT.has(prev) && size <= 3) return "person";
  if (prev === "with" && size <= 2) return "person";
  if (prev !== undefined && PLACE_OBJECT.has(prev)) return "place";
  return undefined;
}

/** Aliases a name implies: without its title ("Smith") or its company suffix ("Acme"). */
function impliedAliases(type: EntityType, runWords: string[], display: string): string[] {
  const parts = display.split(/\s+/);
  if (parts.length < 2) return [];
  const first = stripDot(runWords[0] ?? "");
  const last = stripDot(runWords[runWords.length - 1] ?? "");
  if (type === "person" && TITLES.has(first)) return [parts.slice(1).join(" ")];
  if (type === "organization" && CORPORATE.has(last)) {
    return [parts.slice(0, -1).join(" ").replace(/,$/, "")];
  }
  return [];
}

/** A date's ISO 8601 name: a day, an ISO week, a month or a year. */
function isoName(d: ResolvedDate): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  switch (d.precision) {
    case "day":
      return `${d.year}-${pad(d.month)}-${pad(d.day)}`;
    case "week": {
      // ISO week: the week with the year's first Thursday is week 1.
      const thursday = new Date(Date.UTC(d.year, d.month - 1, d.day + 3));
      const year = thursday.getUTCFullYear();
      const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / 604_800_000) + 1;
      return `${year}-W${pad(week)}`;
    }
    case "month":
      return `${d.year}-${pad(d.month)}`;
    case "year":
      return `${d.year}`;
  }
}

/** Collects mentions by normalised name: one entity per name in a text, the first type found. */
/** A transcript line's speaker label: one to three capitalised words and a colon, opening the text. */
const TRANSCRIPT_LABEL = /^\s*(\p{Lu}[\p{L}'’.-]*(?:\s\p{Lu}[\p{L}'’.-]*){0,2})\s*:(?!\/\/)/u;

class Mentions {
  readonly list: (EntityMention & { normalized: string })[] = [];
  private readonly byName = new Map<string, EntityMention & { normalized: string }>();

  /** Adds (or refines) a mention; returns its position, or -1 when it cannot be kept. */
  add(type: EntityType, name: string, aliases: string[] = [], speaker = false): number {
    const display = name.replace(/\s+/g, " ").trim();
    const normalized = normalizeName(display);
    if (normalized === "" || display.length > ENTITY_NAME_MAX) return -1;
    let found = this.byName.get(normalized);
    if (!found) {
      if (this.list.length >= ENTITIES_PER_TEXT_MAX) return -1;
      found = { type, name: display, aliases: [], normalized };
      this.byName.set(normalized, found);
      this.list.push(found);
    } else if (found.type === "other" && type !== "other") {
      found.type = type;
    }
    if (speaker) found.speaker = true;
    for (const alias of aliases) {
      const a = alias.trim();
      const key = normalizeName(a);
      if (key === "" || key === normalized || a.length > ENTITY_NAME_MAX) continue;
      if (found.aliases.length >= ALIASES_MAX) break;
      if (!found.aliases.some((x) => normalizeName(x) === key)) found.aliases.push(a);
    }
    return this.list.indexOf(found);
  }

  typeOf(normalized: string): EntityType | undefined {
    return this.byName.get(normalized)?.type;
  }
}

/** The types attribute statements give their values: where one lives, where one works. */
const ATTRIBUTE_TYPES: Record<string, EntityType> = {
  lives_in: "place",
  works_at: "organization",
};
/**
 * Words every lives_in and works_at statement has (inference/attributes.ts): the attribute rules,
 * the costliest part of extraction, only run on sentences with one of them.
 */
const PLACE_OR_EMPLOYER =
  /\b(?:liv(?:e|es|ed|ing)|resides?|based|settled|moved|relocated|left|works?|working|employed|joined|hired|job|started|quit|retired|fired|laid|let go|accepted|at|for)\b/i;
/** An attribute value that is a proper name (not "a startup", "the countryside"). */
const PROPER_VALUE = /^(?:the\s+)?[\p{Lu}\d]/u;

/** The entities (and, from an attribute, the relation) a text mentions. */
export function extractEntities(text: string, hints: ExtractionHints = {}): Extraction {
  const time = hints.time && !Number.isNaN(hints.time.getTime()) ? hints.time : new Date();
  const mentions = new Mentions();
  const speakers = new Map<string, string>();
  for (const s of hints.speakers ?? []) {
    const key = normalizeName(s);
    if (key !== "" && !speakers.has(key)) speakers.set(key, s.trim());
  }
  // Values of attributes stated in the text (or given) are typed by what they are the value of.
  const typed = new Map<string, EntityType>();
  const noteAttribute = (a: { key: string; value: string } | null | undefined) => {
    const type = a ? ATTRIBUTE_TYPES[a.key] : undefined;
    if (a && type && PROPER_VALUE.test(a.value)) typed.set(normalizeName(a.value), type);
  };
  noteAttribute(hints.attribute);

  const sentences: Sentence[] = sentencesOf(text);
  for (const sentence of sentences) {
    if (!PLACE_OR_EMPLOYER.test(sentence.text)) continue;
    noteAttribute(detectAttribute(sentence.text, "speaker")?.attribute);
  }
  for (const sentence of sentences) {
    const tokens = sentence.tokens;
    let previous: { end: number; type: EntityType } | undefined;
    for (const run of nameRuns(sentence)) {
      let end = run.end;
      const runWords = [...run.words];
      if (runWords.length === 1 && NOT_A_NAME.has(runWords[0] as string)) continue;
      const key = normalizeName(runWords.join(" "));
      let type =
        typeByWords(runWords) ??
        typed.get(key) ??
        (speakers.has(key) ? "person" : undefined) ??
        typeByContext(tokens, run.start, run.end, runWords.length) ??
        // "with Mark and Jenny": names in a list share the type of the one before.
        (previous && listed(tokens.slice(previous.end, run.start)) ? previous.type : undefined);
      // "iPhone 15", "Tesla Model 3": a product's number is part of its name.
      if (type === "product" && tokens[end]?.type === "number") end += 1;
      type ??= "other";
      const display = joinTokens(tokens.slice(run.start, end)).replace(/['’]s$/, "");
      mentions.add(type, display, impliedAliases(type, runWords, display));
      previous = { end, type };
    }
    tokens.forEach((token, i) => {
      if (!CAMEL.test(token.value)) return;
      const numbered = tokens[i + 1]?.type === "number";
      mentions.add("product", joinTokens(tokens.slice(i, numbered ? i + 2 : i + 1)));
    });
    for (const date of datesIn(sentence.text, time)) {
      const aliases = [dateWords(date)];
      // The speaker's own words, when they are already absolute ("May 7, 2023").
      if (/\b\d{4}\b/.test(date.text)) {
        aliases.push(date.text.replace(/^(?:on|in|at|during|by|since|from)\s+/i, ""));
      }
      mentions.add("date", isoName(date), aliases);
    }
    for (const year of bareYears(sentence.text)) mentions.add("date", year.text);
  }
  // Speakers named in lower case ("alice moved to Lisbon", an inferred fact about user "alice").
  const textWords = ` ${normalizeName(text)} `;
  for (const [key, display] of speakers) {
    if (textWords.includes(` ${key} `)) mentions.add("person", display);
  }
  const speaker = hints.firstPersonSpeaker?.trim();
  if (speaker && FIRST_PERSON.test(text)) mentions.add("person", speaker);
  // Who said it: the message's name, else a transcript label ("Gina: I love dancing").
  const said = hints.speaker?.trim() || TRANSCRIPT_LABEL.exec(text)?.[1];
  if (said) mentions.add("person", said, [], true);

  // Relations first: their subject and object join the mentions.
  const relations = relationsOf(mentions, hints, speakers);
  return { entities: mentions.list.map(({ normalized: _, ...m }) => m), relations };
}

/** The relation an inferred fact's attribute states: person lives_in place, works_at organisation. */
function relationsOf(
  mentions: Mentions,
  hints: ExtractionHints,
  speakers: Map<string, string>,
): RelationMention[] {
  const a = hints.attribute;
  const objectType = a ? ATTRIBUTE_TYPES[a.key] : undefined;
  if (!a || !objectType || hints.negates || !PROPER_VALUE.test(a.value)) return [];
  // Only a person named plainly: not "the user", not "alice's sister".
  const subjectKey = normalizeName(a.subject);
  if (subjectKey === "" || /'s\b/.test(a.subject) || /^the (user|assistant)$/i.test(a.subject)) {
    return [];
  }
  const listed = mentions.list.find((m) => m.normalized === subjectKey);
  const subjectName =
    speakers.get(subjectKey) ??
    listed?.name ??
    a.subject.replace(/\b\p{Ll}/gu, (c) => c.toUpperCase());
  const subject = mentions.add("person", subjectName);
  const object = mentions.add(objectType, a.value.replace(/^the\s+/i, ""));
  if (subject < 0 || object < 0 || subject === object) return [];
  return [{ subject, predicate: a.key, object }];
}
