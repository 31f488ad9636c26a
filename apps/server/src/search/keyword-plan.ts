/**
 * Keyword weighting of memory search (ADR 0004): a memory's keyword score is the sum of the IDF
 * weights of the query's terms it contains (BM25 with binary term frequency and no length
 * normalisation), and an unscoped search reads the postings of the rarest terms only.
 */

/**
 * Bound on the postings an unscoped search reads: the query's rarest terms generate candidates
 * only while their summed document frequency stays within it, and if even the rarest term is
 * more common, only its newest this-many postings are read.
 */
export const KEYWORD_POSTINGS_BUDGET = 5000;

/** BM25's inverse document frequency of a term in `df` of `n` memories (always > 0). */
export function idf(df: number, n: number): number {
  return Math.log(1 + (Math.max(n, df) - df + 0.5) / (df + 0.5));
}

export interface KeywordPlan {
  /** The query's lexemes that occur in the project, with their IDF weights. */
  terms: { lexeme: string; weight: number }[];
  /** Lexemes whose postings generate candidates in an unscoped search, rarest first. */
  generating: { lexeme: string; weight: number }[];
  /** True when even the rarest term exceeds the budget: take its newest postings only. */
  newestOnly: boolean;
}

/**
 * Weights each query lexeme by its IDF among the project's `n` memories and picks the rarest
 * lexemes, up to `budget` postings in all (at least one), to generate candidates. A memory that
 * has none of them can only match common terms, so it could rarely outrank one that has.
 */
export function planKeywords(
  stats: { lexeme: string; docs: number }[],
  n: number,
  budget = KEYWORD_POSTINGS_BUDGET,
): KeywordPlan {
  const present = stats
    .filter((s) => s.docs > 0)
    .sort((a, b) => a.docs - b.docs || (a.lexeme < b.lexeme ? -1 : a.lexeme > b.lexeme ? 1 : 0));
  const terms = present.map((s) => ({ lexeme: s.lexeme, weight: idf(s.docs, n) }));
  let postings = 0;
  let count = 0;
  for (const s of present) {
    postings += s.docs;
    if (count > 0 && postings > budget) break;
    count++;
  }
  return {
    terms,
    generating: terms.slice(0, count),
    newestOnly: present.length > 0 && (present[0] as { docs: number }).docs > budget,
  };
}
