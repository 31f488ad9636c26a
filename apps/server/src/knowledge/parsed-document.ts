/** One structural piece of a parsed document, in reading order. */
export interface Block {
  kind: "heading" | "paragraph";
  text: string;
  /** Heading level 1–6 (headings only). */
  level?: number;
  /** 1-based page, for paginated formats (PDF). */
  page?: number;
  /** Character offsets [start, end) into the document's source text (text, Markdown, JSON) or its extracted text (HTML, PDF, DOCX). */
  start: number;
  end: number;
}

export interface ParsedDocument {
  blocks: Block[];
  /** Pages, for paginated formats. */
  pages?: number;
}

/**
 * A document that cannot be indexed, for a reason the tenant can act on (corrupt, encrypted,
 * too many pages). Permanent: retrying the same bytes gives the same answer, so the job fails at
 * once instead of going through the retries.
 */
export class DocumentError extends Error {
  override name = "DocumentError";
}

/** Blocks from text split on blank lines, offsets relative to `base` in the source. */
export function paragraphBlocks(text: string, base = 0, page?: number): Block[] {
  const blocks: Block[] = [];
  const re = /\S[\s\S]*?(?=\n[ \t]*\n|$)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const raw = m[0];
    const trimmed = raw.trimEnd();
    if (trimmed === "") continue;
    blocks.push({
      kind: "paragraph",
      text: trimmed.replace(/\s+/g, " "),
      start: base + m.index,
      end: base + m.index + trimmed.length,
      ...(page !== undefined ? { page } : {}),
    });
  }
  return blocks;
}
