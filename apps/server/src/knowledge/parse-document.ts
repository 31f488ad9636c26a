import { parseDocx, parseHtml } from "./parse-html.ts";
import { parseJson } from "./parse-json.ts";
import { parseMarkdown } from "./parse-markdown.ts";
import { parsePdf } from "./parse-pdf.ts";
import {
  DocumentError,
  type ParsedDocument,
  type ParseLimits,
  paragraphBlocks,
} from "./parsed-document.ts";

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

/** Parses bytes of a supported type into blocks; DocumentError for a file that cannot be indexed. */
export async function parseDocument(
  bytes: Buffer,
  mediaType: MediaType,
  limits: ParseLimits,
): Promise<ParsedDocument> {
  switch (mediaType) {
    case "text/plain":
      return { blocks: paragraphBlocks(utf8(bytes, "text")) };
    case "text/markdown":
      return { blocks: parseMarkdown(utf8(bytes, "Markdown")) };
    case "text/html":
      return { blocks: parseHtml(utf8(bytes, "HTML")) };
    case "application/json":
      return { blocks: parseJson(utf8(bytes, "JSON")) };
    case "application/pdf":
      return parsePdf(bytes, limits);
    case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
      return { blocks: await parseDocx(bytes) };
  }
}
