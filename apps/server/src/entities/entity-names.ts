import { ENTITY_NAME_MAX } from "@engram/contract";

/**
 * The one normalisation entity names, aliases and queries are matched with: NFKC, lower case,
 * straight apostrophes, words of letters and digits (joined inside by ' & . -), a possessive "'s"
 * dropped, and a leading article dropped from a name. "Dr. Smith's" and "dr smith" are the same
 * name; "The Beatles" is "beatles".
 */
const WORD = /[\p{L}\p{N}]+(?:['&.-][\p{L}\p{N}]+)*/gu;
const ARTICLES = new Set(["the", "a", "an"]);

/** Most words of a query matched against names; the rest is ignored. */
const QUERY_WORDS_MAX = 256;
/** Longest name, in words, a query is matched against (its word n-grams up to this length). */
const QUERY_GRAM_MAX = 3;

/** A text's words as names are compared: lower case, without a possessive "'s". */
function nameWords(text: string): string[] {
  const words = text.normalize("NFKC").toLowerCase().replace(/[‘’]/g, "'").match(WORD) ?? [];
  return words.map((w) => w.replace(/'s$/, ""));
}

/** The form a name or alias is stored and matched in; "" when it has no letter or digit. */
export function normalizeName(name: string): string {
  const words = nameWords(name);
  if (words.length > 1 && ARTICLES.has(words[0] as string)) words.shift();
  return words.join(" ").slice(0, ENTITY_NAME_MAX);
}

/**
 * Words too common to be a name on their own: a query's single words among these are not looked
 * up ("will", "may" and "can" would otherwise find everyone called Will, May or Can).
 */
const FUNCTION_WORDS = new Set(
  (
    "a about above after again against all am an and any are as at be because been before being " +
    "below between both but by can could did do does doing down during each few for from further " +
    "had has have having he her here hers herself him himself his how i if in into is it its " +
    "itself just may me might more most must my myself no nor not now of off on once only or other " +
    "our ours ourselves out over own same shall she should so some such than that the their theirs " +
    "them themselves then there these they this those through to too under until up very was we " +
    "were what when where which while who whom why will with would you your yours yourself " +
    "yourselves last next ago yesterday today tomorrow week month year day time"
  ).split(" "),
);

/**
 * The names a query could mention: its word n-grams of 1 to 3 words, normalised like names, without
 * single function words. A lower-case query works the same as a capitalised one.
 */
export function queryNames(query: string): string[] {
  const words = nameWords(query).slice(0, QUERY_WORDS_MAX);
  const names = new Set<string>();
  for (let n = 1; n <= QUERY_GRAM_MAX; n++) {
    for (let i = 0; i + n <= words.length; i++) {
      const name = normalizeName(words.slice(i, i + n).join(" "));
      // A single function word, also once an article is dropped ("the of" is "of").
      if (name !== "" && !FUNCTION_WORDS.has(name)) names.add(name);
    }
  }
  return [...names];
}
