import type { Sources } from "./chat-sources.ts";

/**
 * The answer without a model: the most relevant passages quoted, each with its [n], and the
 * visitor's most relevant memories; or, when nothing relevant was found, NOTHING_FOUND. Returned
 * as the deltas to stream, a sentence (or a short line) at a time.
 */

/** What an extractive answer says when the agent's knowledge has nothing on the question. */
export const NOTHING_FOUND =
  "I could not find anything about that in the information available to me.";

/** Passages quoted, at most. */
const MAX_PASSAGES = 3;
/** Memories recalled, at most. */
const MAX_MEMORIES = 2;
/** Longest passage quoted, in characters (cut at a sentence, else a word). */
const PASSAGE_MAX = 600;

const sentences = new Intl.Segmenter("en", { granularity: "sentence" });

/** The deltas of an extractive answer, in order; joined, they are its text. */
export function extractiveAnswer(sources: Sources): string[] {
  const passages = sources.knowledge.slice(0, MAX_PASSAGES);
  const memories = sources.memories.slice(0, MAX_MEMORIES);
  if (passages.length === 0 && memories.length === 0) return [NOTHING_FOUND];
  const deltas: string[] = [];
  if (passages.length > 0) {
    deltas.push("Here is what I found:\n\n");
    passages.forEach((p, i) => {
      const parts = sentencesOf(clip(p.text));
      parts.forEach((s, j) => {
        const last = j === parts.length - 1;
        deltas.push(last ? `${s.trimEnd()} [${p.n}]` : s);
      });
      if (i < passages.length - 1 || memories.length > 0) deltas.push("\n\n");
    });
  }
  if (memories.length > 0) {
    deltas.push("From what you told us before:\n");
    memories.forEach((m, i) => {
      deltas.push(`- ${m}${i < memories.length - 1 ? "\n" : ""}`);
    });
  }
  return deltas;
}

/** The text's sentences, whitespace kept with the sentence it follows. */
function sentencesOf(text: string): string[] {
  return [...sentences.segment(text)].map((s) => s.segment).filter((s) => s.trim() !== "");
}

/** At most PASSAGE_MAX characters: whole sentences when they fit, else cut at a word. */
function clip(text: string): string {
  if (text.length <= PASSAGE_MAX) return text;
  let out = "";
  for (const s of sentencesOf(text)) {
    if (out.length + s.length > PASSAGE_MAX) break;
    out += s;
  }
  if (out.trim() !== "") return out.trimEnd();
  const cut = text.slice(0, PASSAGE_MAX).replace(/[\uD800-\uDBFF]$/u, "");
  const space = cut.lastIndexOf(" ");
  return `${space > PASSAGE_MAX / 2 ? cut.slice(0, space) : cut}…`;
}
