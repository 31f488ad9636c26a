import {
  decodeGenerator,
  encodeGenerator,
  isWithinTokenLimit,
  countTokens as o200k,
} from "gpt-tokenizer";

// gpt-tokenizer's default export is o200k_base (the GPT-4o family's), the encoding the knowledge
// chunker counts with. Text is counted as text: a memory containing "<|endoftext|>" is ordinary
// characters to the model it is pasted into, and by default the library throws on it.
const AS_TEXT = { disallowedSpecial: new Set<string>() };

/** What a truncated text ends with. */
export const ELLIPSIS = "…";

/**
 * Longest unbroken run of letters, or of symbols and punctuation, kept in a context. BPE takes
 * time quadratic in the length of such a run (the tokenizer cannot split it): one 16k-character
 * run of a single CJK character takes gpt-tokenizer about 2 s, with the event loop blocked. No
 * word is this long; base64 blobs and repeated characters are.
 */
export const MAX_RUN = 256;

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** Tokens of `text` (o200k_base). */
export function countTokens(text: string): number {
  return o200k(text, AS_TEXT);
}

/** Tokens of `text` when they are at most `budget`, else false; stops counting past the budget. */
export function tokensWithin(text: string, budget: number): number | false {
  return isWithinTokenLimit(text, budget, AS_TEXT);
}

/**
 * Where `text` may be cut within its first `maxTokens` tokens: the ends of its tokens that are
 * also ends of grapheme clusters, so a cut never splits a character, an emoji sequence (ZWJ,
 * flags, skin tones) or a letter from its combining marks. Ascending, without 0.
 */
function cutPoints(text: string, maxTokens: number): number[] {
  const ids: number[] = [];
  // Only the start of a long text is encoded: a cut beyond maxTokens tokens would not fit anyway.
  for (const piece of encodeGenerator(text, AS_TEXT)) {
    ids.push(...piece);
    if (ids.length > maxTokens) break;
  }
  const clusters = graphemes.segment(text);
  const cuts: number[] = [];
  let end = 0;
  // decodeGenerator yields whole characters only: a token ending inside one is joined to the next.
  for (const piece of decodeGenerator(ids)) {
    end += piece.length;
    if (end === text.length || clusters.containing(end)?.index === end) cuts.push(end);
  }
  return cuts;
}

/**
 * The longest prefix of `text` cut on a token and grapheme boundary, trailing whitespace dropped
 * and an ellipsis added, that `fits` (which cannot hold more than `maxTokens` tokens); undefined
 * when not even the ellipsis alone fits. `fits` must be (nearly) monotonic in the prefix's length:
 * the cut is found by bisection.
 */
export function truncateToFit(
  text: string,
  fits: (candidate: string) => boolean,
  maxTokens: number,
): string | undefined {
  const cuts = [0, ...cutPoints(text, maxTokens)];
  const at = (i: number) => `${text.slice(0, cuts[i]).trimEnd()}${ELLIPSIS}`;
  if (!fits(at(0))) return undefined;
  let lo = 0;
  let hi = cuts.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(at(mid))) lo = mid;
    else hi = mid - 1;
  }
  return at(lo);
}

/**
 * `text` cut (with an ellipsis) inside its first run longer than MAX_RUN characters, on a
 * grapheme boundary; unchanged when it has none. Token counts of what remains take linear time.
 */
export function boundRuns(text: string): { text: string; cut: boolean } {
  for (const run of text.matchAll(/[\p{L}\p{M}]+|[^\s\p{L}\p{N}]+/gu)) {
    if (run[0].length <= MAX_RUN) continue;
    let end = 0;
    for (const g of graphemes.segment(run[0])) {
      if (g.index + g.segment.length > MAX_RUN) break;
      end = g.index + g.segment.length;
    }
    return { text: `${text.slice(0, run.index + end)}${ELLIPSIS}`, cut: true };
  }
  return { text, cut: false };
}
