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

/** Content words (lemmas of nouns, verbs, adjectives, numbers, names), for "does it add anything". */
function contentWords(text: string): Set<string> {
  const out = new Set<string>();
  for (const sentence of sentencesOf(text)) {
    for (const t of sentence.tokens) {
      if (!["NOUN", "PROPN", "VERB", "ADJ", "NUM", "ADV"].includes(t.pos)) continue;
      const word = t.lemma.replace(/'s$/, "");
      if (word.length > 1 && !STOP.has(word)) out.add(word);
    }
  }
  return out;
}

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
  const entities = fact.entities;
  for (const neighbour of neighbours) {
    if (neighbour.similarity < opts.duplicateThreshold) continue;
    if (!sameSet(entitiesOf(neighbour.memory), entities)) continue;
    const similarity = neighbour.similarity.toFixed(2);
    const known = contentWords(neighbour.memory);
    const told = contentWords(fact.text);
    const added = [...told].filter((w) => !known.has(w));
    if (added.length === 0) {
      return {
        event: "NOOP",
        targetId: neighbour.id,
        text: neighbour.memory,
        reason: `already known (similarity ${similarity}, same entities)`,
      };
    }
    const lost = [...known].filter((w) => !told.has(w));
    // The fuller statement replaces the text; when each says something the other does not, both stay.
    const text =
      lost.length === 0 ? fact.text : `${neighbour.memory.replace(/\s+$/, "")} ${fact.text}`;
    return {
      event: "UPDATE",
      targetId: neighbour.id,
      supersede: false,
      text,
      reason: `adds ${added.slice(0, 5).join(", ")} to a near-duplicate (similarity ${similarity}, same entities)`,
    };
  }
  return {
    event: "ADD",
    text: fact.text,
    reason: attribute ? `new ${attribute.key} of ${attribute.subject}` : "new fact",
  };
}
