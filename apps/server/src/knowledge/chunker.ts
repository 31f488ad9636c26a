import { countTokens, decode, encode } from "gpt-tokenizer";
import { DocumentLimitError } from "./document-limits.ts";
import type { Block } from "./parsed-document.ts";

export interface ChunkOptions {
  /** Most tokens in a chunk's text. */
  maxTokens: number;
  /** Tokens of the previous chunk's tail repeated at the start of the next one in a section. */
  overlapTokens: number;
  /** Most chunks: chunking stops with a DocumentLimitError as soon as one more would be cut. */
  maxChunks?: number;
}

export const DEFAULT_CHUNKING: ChunkOptions = { maxTokens: 256, overlapTokens: 32 };

/** One indexable piece of a document, with where it came from. */
export interface Chunk {
  ordinal: number;
  text: string;
  tokens: number;
  /** The headings it sits under, outermost first. */
  headingPath: string[];
  /** The page it starts on (paginated formats). */
  page: number | null;
  start: number;
  end: number;
}

interface Piece {
  text: string;
  tokens: number;
  start: number;
  end: number;
  page: number | undefined;
}

const sentences = new Intl.Segmenter("en", { granularity: "sentence" });

/**
 * A block cut into pieces of at most maxTokens: the whole block when it fits, else its sentences,
 * and a sentence longer than the bound is cut on token boundaries. Offsets of sentences are the
 * block's start plus their position in the block's text (exact where the text is the source).
 */
function pieces(block: Block, max: number): Piece[] {
  const whole = countTokens(block.text);
  const at = (text: string, tokens: number, index: number): Piece => ({
    text,
    tokens,
    start: Math.min(block.start + index, block.end),
    end: Math.min(block.start + index + text.length, block.end),
    page: block.page,
  });
  if (whole <= max) return [{ ...at(block.text, whole, 0), end: block.end }];
  const out: Piece[] = [];
  for (const s of sentences.segment(block.text)) {
    const text = s.segment.trim();
    if (!text) continue;
    const n = countTokens(text);
    if (n <= max) {
      out.push(at(text, n, s.index));
      continue;
    }
    const ids = encode(text);
    let pos = 0;
    for (let i = 0; i < ids.length; i += max) {
      const part = decode(ids.slice(i, i + max));
      out.push(at(part.trim(), Math.min(max, ids.length - i), s.index + pos));
      pos += part.length;
    }
  }
  return out;
}

/**
 * Structure-following chunking: a heading (or a new page) closes the current chunk, and a heading
 * updates the heading path;
 * paragraphs (then sentences, then token runs) fill a chunk up to maxTokens; the next chunk of the
 * same section starts with the last pieces of the previous one, up to overlapTokens. Pieces are
 * joined by blank lines.
 */
export function chunkBlocks(
  blocks: readonly Block[],
  opts: ChunkOptions = DEFAULT_CHUNKING,
): Chunk[] {
  const chunks: Chunk[] = [];
  const path: { level: number; text: string }[] = [];
  let current: Piece[] = [];
  let tokens = 0;

  const flush = (keepOverlap: boolean) => {
    if (current.length === 0) return;
    if (opts.maxChunks !== undefined && chunks.length >= opts.maxChunks) {
      throw new DocumentLimitError(
        "maxChunks",
        `The document makes more than ${opts.maxChunks} chunks`,
        opts.maxChunks,
      );
    }
    const first = current[0] as Piece;
    const last = current.at(-1) as Piece;
    const text = current.map((p) => p.text).join("\n\n");
    chunks.push({
      ordinal: chunks.length,
      text,
      tokens: countTokens(text),
      headingPath: path.map((h) => h.text),
      page: first.page ?? null,
      start: first.start,
      end: last.end,
    });
    let carried: Piece[] = [];
    if (keepOverlap && opts.overlapTokens > 0) {
      let n = 0;
      for (let i = current.length - 1; i > 0; i--) {
        const p = current[i] as Piece;
        if (n + p.tokens > opts.overlapTokens) break;
        n += p.tokens;
        carried = [p, ...carried];
      }
    }
    current = carried;
    tokens = carried.reduce((n, p) => n + p.tokens, 0);
  };

  for (const block of blocks) {
    if (block.kind === "heading") {
      flush(false);
      const level = block.level ?? 1;
      while (path.length > 0 && (path.at(-1) as { level: number }).level >= level) path.pop();
      path.push({ level, text: block.text.slice(0, 200) });
      continue;
    }
    // A new page closes the chunk too, so a citation's page is exact.
    if (block.page !== undefined && current.length > 0 && current.at(-1)?.page !== block.page) {
      flush(false);
    }
    for (const piece of pieces(block, opts.maxTokens)) {
      // The separator between pieces costs a token or two; keep a small margin for it.
      if (tokens + piece.tokens + current.length > opts.maxTokens) flush(true);
      // Overlap plus a large piece can still exceed the bound: drop the overlap then.
      if (tokens + piece.tokens + current.length > opts.maxTokens) {
        current = [];
        tokens = 0;
      }
      current.push(piece);
      tokens += piece.tokens;
    }
  }
  flush(false);
  return chunks;
}
