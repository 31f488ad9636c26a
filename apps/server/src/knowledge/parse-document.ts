import type { DocumentLimits } from "../config/ingest-config.ts";
import {
  checkHtmlDepth,
  checkJsonDepth,
  checkMarkdownDepth,
  checkPdfInflation,
  checkZipInflation,
  DocumentLimitError,
} from "./document-limits.ts";
import { DocumentError, type ParsedDocument, paragraphBlocks } from "./parsed-document.ts";

/** Every media type the reading service parses, with the file extensions that imply it. */
export const MEDIA_TYPES = {
  "text/plain": [".txt", ".text", ".log"],
  "text/markdown": [".md", ".markdown"],
  "text/html": [".html", ".htm"],
  "application/pdf": [".pdf"],
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": [".docx"],
  "application/json": [".json"],
} as const;
export type MediaType = keyof typeof MEDIA_TYPES;

/**
 * The media type of an upload: the declared one (parameters such as `; charset=` dropped) when
 * given and not the generic octet-stream, else the one the file name's extension implies.
 * Undefined when neither names a supported type.
 */
export function resolveMediaType(
  declared: string | undefined,
  filename: string,
): MediaType | undefined {
  const base = declared?.split(";")[0]?.trim().toLowerCase();
  if (base && base !== "application/octet-stream") {
    return base in MEDIA_TYPES ? (base as MediaType) : undefined;
  }
  const lower = filename.toLowerCase();
  for (const [type, exts] of Object.entries(MEDIA_TYPES)) {
    if (exts.some((e) => lower.endsWith(e))) return type as MediaType;
  }
  return undefined;
}

/** Bytes as UTF-8 text; invalid UTF-8 or NUL characters mean a binary or mislabelled file. */
function utf8(bytes: Buffer, what: string): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new DocumentError(`The ${what} file is not valid UTF-8 text`);
  }
  if (text.includes("\u0000"))
    throw new DocumentError(`The ${what} file contains NUL characters (binary data?)`);
  return text.replace(/^\uFEFF/, "");
}

/**
 * Parses bytes of a supported type into blocks; DocumentError for a file that cannot be indexed,
 * DocumentLimitError for one over a limit. Every limit that protects a step is checked before
 * that step (inflation before unzipping or decoding, nesting before recursive parsers), and the
 * extracted text after. Parsers are imported on first use, so a parse process loads only what
 * its documents need.
 */
export async function parseDocument(
  bytes: Buffer,
  mediaType: MediaType,
  limits: DocumentLimits,
): Promise<ParsedDocument> {
  const parsed = await parseByType(bytes, mediaType, limits);
  let text = 0;
  for (const b of parsed.blocks) {
    text += Buffer.byteLength(b.text);
    if (text > limits.maxTextBytes) {
      throw new DocumentLimitError(
        "maxTextBytes",
        `The document has more than ${limits.maxTextBytes} bytes of text`,
        limits.maxTextBytes,
      );
    }
  }
  return parsed;
}

async function parseByType(
  bytes: Buffer,
  mediaType: MediaType,
  limits: DocumentLimits,
): Promise<ParsedDocument> {
  switch (mediaType) {
    case "text/plain":
      return { blocks: paragraphBlocks(utf8(bytes, "text")) };
    case "text/markdown": {
      const source = utf8(bytes, "Markdown");
      checkMarkdownDepth(source, limits);
      const { parseMarkdown } = await import("./parse-markdown.ts");
      return { blocks: parseMarkdown(source) };
    }
    case "text/html": {
      const html = utf8(bytes, "HTML");
      await checkHtmlDepth(html, limits);
      const { parseHtml } = await import("./parse-html.ts");
      return { blocks: parseHtml(html) };
    }
    case "application/json": {
      const source = utf8(bytes, "JSON");
      checkJsonDepth(source, limits);
      const { parseJson } = await import("./parse-json.ts");
      return { blocks: parseJson(source) };
    }
    case "application/pdf": {
      checkPdfInflation(bytes, limits);
      const { parsePdf } = await import("./parse-pdf.ts");
      return parsePdf(bytes, limits);
    }
    case "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {
      const { parseDocx } = await import("./parse-html.ts");
      return { blocks: await parseDocx(bytes, (b) => checkZipInflation(b, limits)) };
    }
  }
}
