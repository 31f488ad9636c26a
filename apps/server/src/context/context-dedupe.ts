/** Word-set similarity (Jaccard) from which two texts say the same thing. */
const SIMILAR_WORDS = 0.8;

const words = new Intl.Segmenter(undefined, { granularity: "word" });

interface Normalised {
  /** The text's words, lower-cased (NFKC), joined by single spaces and padded with one. */
  padded: string;
  words: Set<string>;
}

/**
 * A text as compared for duplicates: its words (Unicode word segmentation, so CJK splits into
 * words too) in NFKC lower case; punctuation, emoji and spacing do not count. A text without
 * words (only emoji, say) is its own single word.
 */
function normalise(text: string): Normalised {
  const folded = text.normalize("NFKC").toLowerCase();
  const list: string[] = [];
  for (const s of words.segment(folded)) if (s.isWordLike) list.push(s.segment);
  if (list.length === 0) list.push(folded.replace(/\s+/gu, " ").trim());
  return { padded: ` ${list.join(" ")} `, words: new Set(list) };
}

function jaccard(a: Set<string>, b: Set<string>): number {
  let shared = 0;
  for (const w of a) if (b.has(w)) shared++;
  return shared / (a.size + b.size - shared);
}

/** True when `inner`'s words occur, in order and contiguous, in `outer`. */
function contains(outer: Normalised, inner: Normalised): boolean {
  if (inner.padded.length > outer.padded.length) return false;
  // The word check first: it is cheap and rules most pairs out before the substring search.
  for (const w of inner.words) if (!outer.words.has(w)) return false;
  return outer.padded.includes(inner.padded);
}

/**
 * Near-duplicates dropped from a ranked list (best first), so each fact appears once: two texts
 * are duplicates when they have the same words, when one's words run inside the other's, or when
 * their word sets overlap by SIMILAR_WORDS or more. A group keeps the best rank and score of its
 * members; its text is the longest when one contains the others (it says everything they say),
 * else the best ranked one's.
 */
export function dropNearDuplicates<T extends { text: string; score: number }>(ranked: T[]): T[] {
  const kept: { item: T; norm: Normalised }[] = [];
  for (const item of ranked) {
    const norm = normalise(item.text);
    const twin = kept.find(
      (k) =>
        contains(k.norm, norm) ||
        contains(norm, k.norm) ||
        jaccard(k.norm.words, norm.words) >= SIMILAR_WORDS,
    );
    if (!twin) kept.push({ item, norm });
    else if (norm.padded.length > twin.norm.padded.length && contains(norm, twin.norm)) {
      twin.item = { ...item, score: Math.max(item.score, twin.item.score) };
      twin.norm = norm;
    }
  }
  return kept.map((k) => k.item);
}
