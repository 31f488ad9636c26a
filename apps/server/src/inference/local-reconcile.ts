import { detectAttribute, normaliseValue } from "./attributes.ts";
import type { Attribute, Decision, Fact, Neighbour, ReconcileOptions } from "./engine.ts";
import { entitiesOf, sentencesOf } from "./nlp.ts";

/**
 * The local engine's reconciliation of one fact with the nearest current memories: a negation
 * deletes the attribute it negates, a new value of a single-valued attribute supersedes the old,
 * a near-duplicate is a NOOP or enriches the memory, anything else is new.
 */

/** Diets replace each other; other preferences only replace what the new one names. */
const DIETS = new Set([
  "vegetarian",
  "vegan",
  "pescatarian",
  "pescetarian",
  "carnivore",
  "keto",
  "paleo",
  "omnivore",
]);

interface Holder {
  neighbour: Neighbour;
  /** The neighbour's value, when its text states one the rules can read. */
  value: string | null;
}

function attributeOf(
  neighbour: Neighbour,
): { subject: string; key: string; value: string | null } | null {
  const detected = detectAttribute(neighbour.memory, null);
  if (neighbour.attribute) {
    const same =
      detected && detected.attribute.key === neighbour.attribute.key && !detected.negates
        ? detected.attribute.value
        : null;
    return { ...neighbour.attribute, value: same };
  }
  if (!detected || detected.negates) return null;
  return detected.attribute;
}

const wordsOf = (text: string): string =>
  ` ${normaliseValue(text).replace(/[^\p{L}\p{N}]+/gu, " ")} `;
const mentions = (text: string, value: string): boolean =>
  value.trim() !== "" &&
  wordsOf(text).includes(
    ` ${normaliseValue(value)
      .replace(/[^\p{L}\p{N}]+/gu, " ")
      .trim()} `,
  );

function sameValue(holder: Holder, value: string): boolean {
  if (holder.value !== null) return normaliseValue(holder.value) === normaliseValue(value);
  return mentions(holder.neighbour.memory, value);
}

function holdersOf(attribute: Attribute, fact: Fact, neighbours: Neighbour[]): Holder[] {
  const holders: Holder[] = [];
  for (const neighbour of neighbours) {
    const held = attributeOf(neighbour);
    if (!held || held.subject !== attribute.subject || held.key !== attribute.key) continue;
    holders.push({ neighbour, value: held.value });
  }
  if (attribute.key !== "preference") return holders;
  // "Switched from coffee to tea" replaces coffee, not a diet; "vegan now" replaces "vegetarian".
  return holders.filter((h) => {
    if (h.value === null) return mentions(fact.text, h.neighbour.memory);
    const old = normaliseValue(h.value);
    const now = normaliseValue(attribute.value);
    return old === now || (DIETS.has(old) && DIETS.has(now)) || mentions(fact.text, h.value);
  });
}

const STOP = new Set(
  "be have do say get make go know take see come think look want give use find tell ask work seem feel try leave call the a an and or but of to in on at for with from by about as is are was were it this that these those there here very really just also so then now than too not no".split(
    " ",
  ),
);

const CONTENT_POS = ["NOUN", "PROPN", "VERB", "ADJ", "NUM"];
/** What a restated attribute can add: things, not the verb it is said with ("based" for "lives"). */
const DETAIL_POS = ["NOUN", "PROPN", "ADJ", "NUM"];
/** The words attributes are stated with (the tagger reads "lives" as the noun "life"). */
const PHRASING = new Set(
  "life live base job employ employer role title position move relocate prefer preference stay reside home currently".split(
    " ",
  ),
);

/** Content words (lemmas of nouns, verbs, adjectives, numbers, names), for "does it add anything". */
function contentWords(text: string, pos: readonly string[] = CONTENT_POS): Set<string> {
  const out = new Set<string>();
  for (const sentence of sentencesOf(text)) {
    for (const t of sentence.tokens) {
      if (!pos.includes(t.pos)) continue;
      const word = t.lemma.replace(/'s$/, "");
      if (word.length > 1 && !STOP.has(word)) out.add(word);
    }
  }
  return out;
}

/** Whether a statement is negative ("not", "never", "no longer"); a double negation is positive. */
function negated(text: string): boolean {
  const count = (expandNegations(text).match(/\b(not|never|no longer|no more)\b/gi) ?? []).length;
  return count % 2 === 1;
}

const expandNegations = (text: string): string =>
  text.replace(/[‘’]/g, "'").replace(/n't\b/gi, " not");

const sameSet = (a: readonly string[], b: readonly string[]): boolean => {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((v) => y.has(v));
};

const shown = (value: string | null): string =>
  value === null || value === "" ? "(unknown)" : value;

/** Decides what one fact does to the memories nearest to it. */
export function reconcileLocally(
  fact: Fact,
  neighbours: Neighbour[],
  opts: ReconcileOptions,
): Decision {
  const attribute = fact.attribute;
  if (attribute) {
    const holders = holdersOf(attribute, fact, neighbours);
    if (fact.negates) {
      const target = holders.find((h) => attribute.value === "" || sameValue(h, attribute.value));
      if (target) {
        return {
          event: "DELETE",
          targetId: target.neighbour.id,
          text: target.neighbour.memory,
          reason: `${attribute.key} of ${attribute.subject} no longer holds: ${shown(target.value ?? attribute.value)}`,
        };
      }
      return {
        event: "ADD",
        text: fact.text,
        reason: `states that ${attribute.key} of ${attribute.subject} is no longer ${shown(attribute.value)}; no current memory says it is`,
      };
    }
    const holder = holders[0];
    if (holder) {
      if (sameValue(holder, attribute.value)) {
        const enriched = enrichment(fact, holder.neighbour, DETAIL_POS);
        if (enriched) {
          return {
            ...enriched,
            reason: `${attribute.key} of ${attribute.subject} unchanged (${attribute.value}); ${enriched.reason}`,
          };
        }
        return {
          event: "NOOP",
          targetId: holder.neighbour.id,
          text: holder.neighbour.memory,
          reason: `${attribute.key} of ${attribute.subject} unchanged: ${attribute.value}`,
        };
      }
      return {
        event: "UPDATE",
        targetId: holder.neighbour.id,
        supersede: true,
        text: fact.text,
        reason: `${attribute.key} changed: ${shown(holder.value)} → ${attribute.value}`,
      };
    }
  }
  // A fact stating an attribute stays a memory of its own, so that a later value can supersede it:
  // merging it into a similar memory would lose the attribute.
  if (attribute)
    return {
      event: "ADD",
      text: fact.text,
      reason: `new ${attribute.key} of ${attribute.subject}`,
    };
  const entities = fact.entities;
  for (const neighbour of neighbours) {
    if (neighbour.similarity < opts.duplicateThreshold) continue;
    if (!sameSet(entitiesOf(neighbour.memory), entities)) continue;
    const similarity = neighbour.similarity.toFixed(2);
    // "Alice likes tea" and "Alice doesn't like tea anymore" are close in meaning's space, not in
    // meaning: the newer statement replaces the older.
    if (negated(neighbour.memory) !== negated(fact.text)) {
      if (retracts(fact.text))
        return retraction(neighbour, `similarity ${similarity}, same entities`);
      return {
        event: "UPDATE",
        targetId: neighbour.id,
        supersede: true,
        text: fact.text,
        reason: `contradicts a near-duplicate (similarity ${similarity}, same entities)`,
      };
    }
    const enriched = enrichment(fact, neighbour);
    if (!enriched) {
      return {
        event: "NOOP",
        targetId: neighbour.id,
        text: neighbour.memory,
        reason: `already known (similarity ${similarity}, same entities)`,
      };
    }
    return {
      ...enriched,
      reason: `${enriched.reason} (similarity ${similarity}, same entities)`,
    };
  }
  // "I'm not married anymore" after "I'm married": a retraction names what it retracts, whatever
  // the similarity of the two sentences.
  if (retracts(fact.text)) {
    const told = contentWords(fact.text);
    const target = neighbours.find((n) => {
      if (n.similarity < RETRACTION_SIMILARITY || negated(n.memory)) return false;
      const known = contentWords(n.memory);
      return told.size > 1 && [...told].every((w) => known.has(w));
    });
    if (target) return retraction(target, "it names everything the memory says");
  }
  return { event: "ADD", text: fact.text, reason: "new fact" };
}

/** "anymore", "no longer": the statement ends something that held until now. */
const RETRACTION = /\b(anymore|any more|no longer)\b/i;
const retracts = (text: string): boolean => RETRACTION.test(text) && negated(text);
/** A retraction's target must still be about the same thing. */
const RETRACTION_SIMILARITY = 0.6;

function retraction(neighbour: Neighbour, why: string): Decision {
  return {
    event: "DELETE",
    targetId: neighbour.id,
    text: neighbour.memory,
    reason: `no longer holds (${why})`,
  };
}

/**
 * An UPDATE in place when the fact says more than the memory (content words the memory lacks):
 * the fuller statement replaces the text, or both stay when each says something the other does
 * not. Undefined when the fact adds nothing.
 */
function enrichment(
  fact: Fact,
  neighbour: Neighbour,
  pos: readonly string[] = CONTENT_POS,
): Decision | undefined {
  const known = contentWords(neighbour.memory);
  const told = contentWords(fact.text);
  const added = [...contentWords(fact.text, pos)].filter(
    (w) => !known.has(w) && !(pos === DETAIL_POS && PHRASING.has(w)),
  );
  if (added.length === 0) return undefined;
  const lost = [...known].filter((w) => !told.has(w));
  const text =
    lost.length === 0 ? fact.text : `${neighbour.memory.replace(/\s+$/, "")} ${fact.text}`;
  return {
    event: "UPDATE",
    targetId: neighbour.id,
    supersede: false,
    text,
    reason: `adds ${added.slice(0, 5).join(", ")}`,
  };
}
