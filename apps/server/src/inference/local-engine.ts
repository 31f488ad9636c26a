import { detectAttribute } from "./attributes.ts";
import type { EngineOutcome, Fact, InferenceEngine, SourceMessage } from "./engine.ts";
import { reconcileLocally } from "./local-reconcile.ts";
import { entitiesOf, sentencesOf } from "./nlp.ts";
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
      for (const message of messages) facts.push(...factsOf(message));
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

/** The facts one message states. */
function factsOf(message: SourceMessage): Fact[] {
  if (message.role !== "user" && message.role !== "assistant") return [];
  const role = message.role;
  const subject = subjectName(message);
  const attributeSubject = subject.toLowerCase();
  const facts: Fact[] = [];
  // wink splits English sentences; CJK full stops need a hint.
  const parts = message.content.split(/(?<=[。！？])/u);
  for (const found of parts.flatMap((part) => sentencesOf(part))) {
    const stripped = withoutRememberPrefix(found.text);
    const sentence = stripped === found.text ? found : (sentencesOf(stripped)[0] ?? found);
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
    const factText = terminated(dated.text.replace(/\s+/g, " ").trim());
    facts.push({
      text: factText,
      sources: [message.index],
      validFrom: (dated.eventDate ?? message.time).toISOString(),
      attribute: detected?.attribute,
      negates: detected?.negates ? true : undefined,
      entities: entitiesOf(factText),
    });
  }
  return facts;
}
