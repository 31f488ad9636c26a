import { joinTokens, type Token } from "./nlp.ts";

/**
 * Rewrites a first-person sentence as a standalone statement about its speaker: "I'm moving to
 * Lisbon" → "Alice is moving to Lisbon", "my sister" → "Alice's sister", "I work" → "Alice works".
 * Where a rewrite would be a guess ("we", "myself", "let's"), it returns null and the caller keeps
 * the speaker's own words.
 */

/** Pronouns whose referent the sentence does not give: the caller quotes the speaker instead. */
const UNCERTAIN = new Set([
  "we",
  "us",
  "our",
  "ours",
  "ourselves",
  "myself",
  "let's",
  "we're",
  "we've",
  "we'll",
  "we'd",
]);

/** Verbs whose present and past look alike: after "I" they are usually past ("I quit my job"). */
const SAME_IN_PAST = new Set([
  "quit",
  "put",
  "cut",
  "set",
  "hit",
  "let",
  "hurt",
  "shut",
  "cost",
  "spread",
  "bet",
  "read",
]);

const MODALS = new Set([
  "can",
  "could",
  "will",
  "would",
  "shall",
  "should",
  "may",
  "might",
  "must",
  "was",
  "did",
  "had",
  "'d",
  "'ll",
]);

/** Adverbs that sit between "I" and its verb ("I really like", "I no longer live"). */
const BETWEEN = new Set([
  "really",
  "also",
  "just",
  "recently",
  "never",
  "always",
  "still",
  "now",
  "actually",
  "finally",
  "often",
  "usually",
  "sometimes",
  "already",
  "even",
  "only",
  "mostly",
  "totally",
  "definitely",
  "absolutely",
  "probably",
  "currently",
  "officially",
  "no",
  "longer",
  "honestly",
  "basically",
  "kinda",
  "literally",
  "rarely",
  "seldom",
  "generally",
  "normally",
  "certainly",
  "truly",
  "both",
  "all",
]);

/** "work" → "works", "go" → "goes", "study" → "studies", keeping the original's capitals. */
function thirdPersonSingular(verb: string): string {
  const lower = verb.toLowerCase();
  const irregular: Record<string, string> = {
    have: "has",
    be: "is",
    am: "is",
    do: "does",
    go: "goes",
  };
  const known = irregular[lower];
  if (known) return known;
  if (/[^aeiou]y$/.test(lower)) return `${verb.slice(0, -1)}ies`;
  if (/(s|sh|ch|x|z|o)$/.test(lower)) return `${verb}es`;
  return `${verb}s`;
}

function conjugate(token: Token): Token {
  const n = token.normal;
  if (n === "am" || n === "'m") return { ...token, value: "is", space: " " };
  if (n === "'ve") return { ...token, value: "has", space: " " };
  if (n === "'ll") return { ...token, value: "will", space: " " };
  if (MODALS.has(n) || SAME_IN_PAST.has(n)) return token;
  if (n === "have" || n === "do") return { ...token, value: thirdPersonSingular(token.value) };
  // A verb in its base form (its lemma is itself) takes -s; "moved", "went" stay as they are.
  if ((token.pos === "VERB" || token.pos === "AUX") && token.lemma === n && /^[a-z]+$/.test(n)) {
    return { ...token, value: thirdPersonSingular(token.value) };
  }
  return token;
}

/** "'d" before "been"/a past participle is "had", else "would". */
function expandD(next: Token | undefined): string {
  if (!next) return "would";
  return next.normal === "been" ||
    next.normal === "better" ||
    (next.lemma !== next.normal && /ed$|en$/.test(next.normal))
    ? "had"
    : "would";
}

/**
 * The sentence with the first person replaced by `subject` (e.g. "Alice" or "the user"), or null
 * when a faithful rewrite is not possible. Sentences without a first person come back unchanged.
 */
export function toThirdPerson(tokens: readonly Token[], subject: string): string | null {
  const out: Token[] = [];
  /** Whether "I" came before: a later "my" is then "their" ("Alice quit their job"). */
  let spoke = false;
  const possessive = /s$/i.test(subject) ? `${subject}'` : `${subject}'s`;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as Token;
    const n = token.normal;
    if (UNCERTAIN.has(n)) return null;
    if (isI(token, i === 0)) {
      spoke = true;
      out.push({ ...token, value: subject });
      const plural = joinedSubject(tokens, i);
      if (n === "i'm") {
        out.push({ ...token, value: plural ? "are" : "is", space: " ", normal: "is" });
        continue;
      }
      if (plural) continue;
      // Skip adverbs to the verb, then conjugate it.
      let j = i + 1;
      while (
        j < tokens.length &&
        (BETWEEN.has(tokens[j]?.normal ?? "") || tokens[j]?.pos === "ADV")
      )
        j++;
      for (let k = i + 1; k < j; k++) out.push(tokens[k] as Token);
      const verb = tokens[j];
      if (verb) {
        if (verb.normal === "'d") out.push({ ...verb, value: expandD(tokens[j + 1]), space: " " });
        else out.push(conjugate(verb));
      }
      i = j;
      continue;
    }
    if (n === "me") {
      out.push({ ...token, value: subject });
      continue;
    }
    if (n === "my" || n === "mine") {
      // Once the sentence has named the speaker, "their" reads better than the name again.
      out.push({ ...token, value: spoke && n === "my" ? "their" : possessive });
      continue;
    }
    out.push(token);
  }
  let text = joinTokens(out);
  text = text.charAt(0).toUpperCase() + text.slice(1);
  return text;
}

/**
 * "My wife and I live": "I" closes a joined subject when the words between the clause's start and
 * the "and" hold no verb ("I like tea, and I go" and "I study law and I read" are two clauses).
 */
function joinedSubject(tokens: readonly Token[], i: number): boolean {
  const previous = tokens[i - 1]?.normal;
  if (previous !== "and" && previous !== "or" && previous !== "nor") return false;
  let words = 0;
  for (let k = i - 2; k >= 0; k--) {
    const t = tokens[k] as Token;
    if (t.pos === "PUNCT" || t.pos === "CCONJ" || t.pos === "SCONJ") break;
    if (t.pos === "VERB" || t.pos === "AUX" || t.normal === "i'm") return false;
    words++;
  }
  return words > 0;
}

/**
 * "I" as a word: the tokeniser also yields an "i" from inside non-English words ("Nội"), which has
 * no space before it.
 */
function isI(token: Token, first: boolean): boolean {
  return (
    (token.normal === "i" || token.normal === "i'm") &&
    (first || token.space !== "" || token.value.startsWith("I"))
  );
}

/** Whether the sentence speaks in the first person (singular or plural). */
export function isFirstPerson(tokens: readonly Token[]): boolean {
  return tokens.some(
    (t, i) =>
      isI(t, i === 0) ||
      t.normal === "me" ||
      t.normal === "my" ||
      t.normal === "mine" ||
      UNCERTAIN.has(t.normal),
  );
}
