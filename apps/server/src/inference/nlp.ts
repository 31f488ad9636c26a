import model from "wink-eng-lite-web-model";
import winkNLP, { type ItemSentence } from "wink-nlp";

/**
 * The one wink-nlp instance of the process (ADR 0024): loading the model takes ~200 ms, so it is
 * loaded once, on first use. Only sentence splitting and parts of speech run (lemmas come with
 * them); the model's sentiment, negation and entity pipes are not needed and cost time.
 */
let instance: ReturnType<typeof winkNLP> | null = null;

function nlp(): ReturnType<typeof winkNLP> {
  instance ??= winkNLP(model, ["sbd", "pos"]);
  return instance;
}

/** One token: its text, the spaces before it, its universal part of speech and its lemma. */
export interface Token {
  value: string;
  /** Lower case, curly apostrophes made straight. */
  normal: string;
  space: string;
  pos: string;
  lemma: string;
  type: string;
}

export interface Sentence {
  text: string;
  tokens: Token[];
}

const straight = (s: string): string => s.replace(/[‘’]/g, "'");

/** Splits a text into sentences with their tokens. */
export function sentencesOf(text: string): Sentence[] {
  const wink = nlp();
  const its = wink.its;
  const doc = wink.readDoc(text);
  const out: Sentence[] = [];
  doc.sentences().each((sentence: ItemSentence) => {
    const tokens = sentence.tokens();
    const values = tokens.out();
    const spaces = tokens.out(its.precedingSpaces);
    const pos = tokens.out(its.pos);
    // wink's types declare its.lemma with the model's addons argument; at run time it is an its function.
    const lemmas = (tokens.out as (f: unknown) => string[])(its.lemma);
    const types = tokens.out(its.type);
    const list: Token[] = values.map((value: string, i: number) => ({
      value,
      normal: straight(value.toLowerCase()),
      space: i === 0 ? "" : (spaces[i] ?? " "),
      pos: pos[i] ?? "X",
      lemma: straight((lemmas[i] ?? value).toLowerCase()),
      type: types[i] ?? "word",
    }));
    out.push({ text: sentence.out(), tokens: list });
  });
  return out;
}

/** Joins tokens back into text with their original spacing. */
export function joinTokens(tokens: readonly Token[]): string {
  return tokens.map((t, i) => (i === 0 ? t.value : t.space + t.value)).join("");
}

const NOT_NAMES = new Set([
  "i",
  "i'm",
  "i've",
  "i'll",
  "i'd",
  "january",
  "february",
  "march",
  "april",
  "may",
  "june",
  "july",
  "august",
  "september",
  "october",
  "november",
  "december",
  "monday",
  "tuesday",
  "wednesday",
  "thursday",
  "friday",
  "saturday",
  "sunday",
  "ok",
  "okay",
  "hi",
  "hello",
  "hey",
  "thanks",
  "lol",
  "omg",
]);

const isCapitalised = (value: string): boolean => /^\p{Lu}/u.test(value);

/**
 * Names a text mentions: runs of proper nouns (and capitalised words inside a sentence), lower
 * case, without a possessive "'s", months, weekdays or "I". Used for facts and, the same way, for
 * the neighbours reconciliation compares them with.
 */
export function entitiesOf(text: string): string[] {
  const found = new Set<string>();
  for (const sentence of sentencesOf(text)) {
    let run: string[] = [];
    const flush = (): void => {
      if (run.length > 0) found.add(run.join(" "));
      run = [];
    };
    sentence.tokens.forEach((token, i) => {
      const name =
        token.type === "word" &&
        !NOT_NAMES.has(token.normal) &&
        isCapitalised(token.value) &&
        (token.pos === "PROPN" || (i > 0 && token.pos !== "PRON"));
      if (name) {
        run.push(token.normal.replace(/'s$/, ""));
      } else if (
        run.length > 0 &&
        /^(of|de|da|do|del|la|le|von|van)$/.test(token.normal) &&
        isCapitalised(sentence.tokens[i + 1]?.value ?? "")
      ) {
        run.push(token.normal);
      } else {
        flush();
      }
    });
    flush();
  }
  return [...found];
}
