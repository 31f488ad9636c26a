/**
 * How a search query and a vector reach SQL, the same for memories and knowledge: the text to
 * embed, the words of the keyword side, a lexeme as a tsquery operand, a vector as pgvector text.
 */

/** pgvector's text form of a vector (a query's or a stored row's embedding). */
export function vectorLiteral(v: Float32Array): string {
  return `[${Array.prototype.join.call(v, ",")}]`;
}

/**
 * The text embedded for a search query: the query without trailing question marks. Memories are
 * statements; a trailing "?" moves a question's embedding towards other questions and away from
 * the statements that answer it (on the LoCoMo dev split it costs 7 points of vector recall@10).
 */
export function embeddingQuery(query: string): string {
  const stripped = query.replace(/[\s?\uFF1F]+$/u, "");
  return stripped === "" ? query : stripped;
}

/** A lexeme as a tsquery operand: quoted, with quote and backslash escaped. */
export function tsqueryLiteral(lexeme: string): string {
  return `'${lexeme.replace(/['\\]/g, (c) => (c === "'" ? "''" : "\\\\"))}'`;
}

/**
 * The keyword side of hybrid search: the query's words OR-ed, so a question matches memories that
 * share any of its terms (Postgres stems them and drops stop words). Only letters and digits reach
 * the tsquery, so no input can produce tsquery syntax.
 */
export function keywordQuery(query: string): string {
  const words = query.match(/[\p{L}\p{N}]+/gu) ?? [];
  return [...new Set(words.map((w) => w.toLowerCase()))].slice(0, 64).join(" | ");
}

/**
 * The text embedded for a query that names people the entity list already matches (ADR 0033):
 * their names, possessives included, are taken out, so the embedding carries what is asked
 * about them (a small embedder's vector for "What is Gina's favourite dance?" is mostly "Gina").
 * Nothing is taken out when that would leave no words.
 */
export function withoutNames(query: string, names: readonly string[]): string {
  let out = query;
  for (const name of names) {
    const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    out = out.replace(
      new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?:['’]s)?(?![\\p{L}\\p{N}])`, "giu"),
      " ",
    );
  }
  out = out.replace(/\s+/g, " ").trim();
  return /[\p{L}\p{N}]/u.test(out) ? out : query;
}
