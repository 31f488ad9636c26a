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

/** A run of name words in a sentence: tokens [start, end), and its words as entitiesOf gives them. */
export interface NameRun {
  start: number;
  end: number;
  /** Lower case, a possessive "'s" kept only inside a name ("st mary's hospital"). */
  words: string[];
}

/**
 * A sentence's runs of proper nouns (and capitalised words inside it), without months, weekdays
 * or "I"; "of", "de", "von"... and a possessive join words of one name ("Bank of America",
 * "St Mary's Hospital").
 */
export function nameRuns(sentence: Sentence): NameRun[] {
  const runs: NameRun[] = [];
  let run: NameRun | null = null;
  const flush = (end: number): void => {
    if (run && run.words.length > 0) runs.push({ ...run, end });
    run = null;
  };
  const tokens = sentence.tokens;
  const first = tokens.findIndex((t) => t.type === "word");
  tokens.forEach((token, i) => {
    const next = tokens[i + 1];
    const name =
      token.type === "word" &&
      !NOT_NAMES.has(token.normal) &&
      isCapitalised(token.value) &&
      (i === first
        ? // A sentence's first word is capitalised anyway: "Painting", "Books" and "Hiking" are
          // tagged as proper nouns there, so inflected words are not taken for names.
          token.pos === "PROPN" && token.lemma === token.normal && !/ing$/.test(token.normal)
        : token.pos === "PROPN" || token.pos !== "PRON");
    const current = run as NameRun | null;
    if (name) {
      run ??= { start: i, end: i, words: [] };
      run.words.push(token.normal.replace(/'s$/, ""));
    } else if (current && token.normal === "'s" && isCapitalised(next?.value ?? "")) {
      // "St Mary's Hospital": a possessive inside a name.
      current.words[current.words.length - 1] += "'s";
    } else if (
      current &&
      /^(of|de|da|do|del|la|le|von|van)$/.test(token.normal) &&
      isCapitalised(next?.value ?? "")
    ) {
      current.words.push(token.normal);
    } else {
      flush(i);
    }
  });
  flush(tokens.length);
  return runs;
}

/**
 * Names a text mentions: its sentences' name runs, lower case, without a possessive "'s". Used for
 * facts and, the same way, for the neighbours reconciliation compares them with.
 */
export function entitiesOf(text: string): string[] {
  const found = new Set<string>();
  for (const sentence of sentencesOf(text)) {
    for (const run of nameRuns(sentence)) found.add(run.words.join(" "));
  }
  return [...found];
}
