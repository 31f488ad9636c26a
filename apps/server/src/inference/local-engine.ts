import { MEMORY_TEXT_MAX } from "@engram/contract";
import { detectAttribute } from "./attributes.ts";
import type { EngineOutcome, Fact, InferenceEngine, SourceMessage } from "./engine.ts";
import { reconcileLocally } from "./local-reconcile.ts";
import { entitiesOf, type Sentence, sentencesOf } from "./nlp.ts";
import { resolveDates } from "./relative-dates.ts";
import { keepSentence, withoutRememberPrefix } from "./sentence-filter.ts";
import { isFirstPerson, toThirdPerson } from "./third-person.ts";

/**
 * The local inference engine (ADR 0024, docs/inference.md): rules over wink-nlp's sentences and
 * parts of speech and chrono-node's dates. No network, no model beyond wink's small English one;
 * a chat message takes about a millisecond.
 */
export function createLocalEngine(): InferenceEngine {
  return {
    name: "local",
    async extract(messages: SourceMessage[]): Promise<EngineOutcome<Fact[]>> {
      const facts: Fact[] = [];
      for (const message of messages) facts.push(...grouped(factsOf(message)));
      return { value: facts, calls: [] };
    },
    async reconcile(fact, neighbours, opts) {
      return { value: reconcileLocally(fact, neighbours, opts), calls: [] };
    },
  };
}

/** The subject a first-person sentence is about, as written in a fact. */
function subjectName(message: SourceMessage): string {
  const name = message.speaker?.trim();
  if (name) return name;
  return message.role === "assistant" ? "The assistant" : "The user";
}

/** Mostly letters outside ASCII: kept as said (the rules are English). */
function isForeign(text: string): boolean {
  const letters = text.match(/\p{L}/gu) ?? [];
  if (letters.length === 0) return false;
  const ascii = letters.filter((c) => c <= "\u007f").length;
  return ascii / letters.length < 0.7;
}

const terminated = (text: string): string =>
  /[.!?…。！？]["')\]]*$/u.test(text) ? text : `${text}.`;

/** "and I", "but I", "so I" after a clause whose subject is "I": the start of a second statement. */
const NEXT_CLAUSE = /(?:,\s*|\s+)(?:and|but|so)\s+(?=I(?:'m|’m|'ve|’ve)?\s)/g;
const HAS_I = /(?:^|\s)I(?:'m|’m|'ve|’ve|'d|’d)?\s/;

/**
 * A sentence as the statements it makes: "Remember that …" stripped, and "I live in Berlin and I
 * work at Acme" split in two, so each statement can carry its own attribute. "My wife and I live in
 * Porto" stays whole (no "I" before the "and").
 */
function clausesOf(found: Sentence): Sentence[] {
  const text = withoutRememberPrefix(found.text);
  const pieces: string[] = [];
  let start = 0;
  for (const m of text.matchAll(NEXT_CLAUSE)) {
    const left = text.slice(start, m.index);
    if (!HAS_I.test(` ${left} `)) continue;
    pieces.push(left);
    start = m.index + m[0].length;
  }
  if (pieces.length === 0) return text === found.text ? [found] : sentencesOf(text).slice(0, 1);
  pieces.push(text.slice(start));
  return pieces.flatMap((piece) => sentencesOf(piece.trim()).slice(0, 1));
}

/**
 * When a fact became true: the date it mentions, else when it was said. A future date is a plan
 * ("we meet next Friday"): the plan holds from when it was said, so a memory is never hidden from
 * the present by a date to come.
 */
function validFrom(eventDate: Date | null, said: Date): string {
  return (
    eventDate !== null && eventDate.getTime() <= said.getTime() ? eventDate : said
  ).toISOString();
}

/**
 * One message's facts as memories: each statement of an attribute (or its retraction) on its own,
 * so a later value can supersede exactly it; the other statements in a row kept together, as the
 * speaker said them (repeats once). A memory per sentence would split one thought over several
 * memories that search then returns apart, each without the others' context (ADR 0024).
 */
function grouped(facts: Fact[]): Fact[] {
  const out: Fact[] = [];
  let run: Fact | undefined;
  for (const fact of facts) {
    if (fact.attribute || fact.negates) {
      run = undefined;
      out.push(fact);
      continue;
    }
    if (run?.text.split(/(?<=[.!?…])\s+/).includes(fact.text)) continue;
    if (run && run.text.length + 1 + fact.text.length <= MEMORY_TEXT_MAX) {
      run.text = `${run.text} ${fact.text}`;
      run.entities = [...new Set([...run.entities, ...fact.entities])];
      if (fact.validFrom < run.validFrom) run.validFrom = fact.validFrom;
      continue;
    }
    run = { ...fact, entities: [...fact.entities] };
    out.push(run);
  }
  return out;
}

/** The facts one message states. */
function factsOf(message: SourceMessage): Fact[] {
  if (message.role !== "user" && message.role !== "assistant") return [];
  const role = message.role;
  const subject = subjectName(message);
  const attributeSubject = subject.toLowerCase();
  const facts: Fact[] = [];
  // wink splits English sentences; CJK full stops need a hint.
  const parts = message.content.split(/(?<=[。！？])/u);
  for (const sentence of parts.flatMap((part) => sentencesOf(part)).flatMap(clausesOf)) {
    if (!keepSentence(sentence, role)) continue;
    const original = sentence.text.trim();
    let text = original;
    let detected = null;
    if (!isForeign(original)) {
      if (isFirstPerson(sentence.tokens)) {
        const midSentence = subject.startsWith("The ") ? subject.toLowerCase() : subject;
        const rewritten = toThirdPerson(sentence.tokens, midSentence);
        // A rewrite that would guess ("we", "myself") quotes the speaker instead.
        text = rewritten ?? `${subject} said: "${original}"`;
      }
      detected = detectAttribute(original, attributeSubject);
    }
    const dated = resolveDates(text, message.time);
    let factText = terminated(dated.text.replace(/\s+/g, " ").trim());
    // Rewriting lengthens text ("my" → "Alice's"); a memory has a maximum length, the words as said fit.
    if (factText.length > MEMORY_TEXT_MAX) factText = original.slice(0, MEMORY_TEXT_MAX);
    facts.push({
      text: factText,
      sources: [message.index],
      validFrom: validFrom(dated.eventDate, message.time),
      attribute: detected?.attribute,
      negates: detected?.negates ? true : undefined,
      entities: entitiesOf(factText),
    });
  }
  return facts;
}
