import { inflateSync, constants as zlib } from "node:zlib";
import yauzl from "yauzl";
import type { DocumentLimits } from "../config/ingest-config.ts";
import { DocumentError } from "./parsed-document.ts";

/** The environment variable that sets each limit, named in every failure. */
const LIMIT_VARIABLES: Record<keyof DocumentLimits, string> = {
  maxPages: "ENGRAM_DOCUMENT_MAX_PAGES",
  maxInflatedBytes: "ENGRAM_DOCUMENT_MAX_INFLATED_BYTES",
  maxCompressionRatio: "ENGRAM_DOCUMENT_MAX_COMPRESSION_RATIO",
  maxDepth: "ENGRAM_DOCUMENT_MAX_DEPTH",
  maxTextBytes: "ENGRAM_DOCUMENT_MAX_TEXT_BYTES",
  maxChunks: "ENGRAM_DOCUMENT_MAX_CHUNKS",
  memoryMb: "ENGRAM_PARSE_MEMORY_MB",
  timeoutS: "ENGRAM_PARSE_TIMEOUT_S",
};

/** A document over one of the limits: permanent, and its message names the limit's variable. */
export class DocumentLimitError extends DocumentError {
  // A declared field, not a parameter property: the parse process runs this file through Node's
  // type stripping, which only erases syntax.
  readonly limit: keyof DocumentLimits;
  constructor(limit: keyof DocumentLimits, message: string, value: number) {
    super(`${message}; the limit is ${value} (${LIMIT_VARIABLES[limit]})`);
    this.limit = limit;
  }
}

/** Archive entries one DOCX may hold: real documents have dozens. */
const MAX_ZIP_ENTRIES = 10_000;
/** Entries smaller than this inflate without a ratio check: tiny XML parts compress very well. */
const RATIO_FLOOR_BYTES = 1024 * 1024;

function checkRatio(what: string, inflated: number, compressed: number, limits: DocumentLimits) {
  if (inflated < RATIO_FLOOR_BYTES) return;
  const ratio = inflated / Math.max(compressed, 1);
  if (ratio > limits.maxCompressionRatio) {
    throw new DocumentLimitError(
      "maxCompressionRatio",
      `${what} inflates ${Math.round(ratio)} times (${inflated} bytes from ${compressed})`,
      limits.maxCompressionRatio,
    );
  }
}

/** `what` inflates to more than `bytes` (at least the limit): the inflation limit's refusal. */
function overInflated(what: string, bytes: number, limits: DocumentLimits): DocumentLimitError {
  return new DocumentLimitError(
    "maxInflatedBytes",
    `${what} to more than ${bytes} bytes`,
    limits.maxInflatedBytes,
  );
}

/**
 * A ZIP archive (DOCX) checked before any parser reads it: entry count, the declared sizes and
 * ratios, then every entry inflated (and discarded) with yauzl, which fails an entry whose data
 * inflates past its declared size. The parser's own unzip trusts the local data, so the declared
 * sizes alone would not do: a bomb can declare a small size and inflate to gigabytes.
 */
export async function checkZipInflation(bytes: Buffer, limits: DocumentLimits): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromBufferPromise(bytes, { lazyEntries: true, validateEntrySizes: true });
  } catch (err) {
    throw new DocumentError(`The DOCX file is corrupt: ${(err as Error).message.slice(0, 200)}`);
  }
  if (zip.entryCount > MAX_ZIP_ENTRIES) {
    zip.close();
    throw new DocumentError(
      `The DOCX archive has ${zip.entryCount} entries; at most ${MAX_ZIP_ENTRIES} are read`,
    );
  }
  let total = 0;
  try {
    const entries = [];
    for await (const entry of zip.eachEntry()) entries.push(entry);
    for (const e of entries) {
      total += e.uncompressedSize;
      if (total > limits.maxInflatedBytes) {
        throw overInflated("The DOCX archive inflates", total, limits);
      }
      checkRatio(
        `The DOCX entry ${JSON.stringify(e.fileName.slice(0, 80))}`,
        e.uncompressedSize,
        e.compressedSize,
        limits,
      );
    }
    // Declared sizes are within the limits; now make the data prove them.
    for (const e of entries) {
      if (e.fileName.endsWith("/")) continue;
      const stream = await zip.openReadStreamPromise(e);
      for await (const _ of stream) {
        // discarded: yauzl counts and fails past the declared size
      }
    }
  } catch (err) {
    if (err instanceof DocumentError) throw err;
    const message = (err as Error).message;
    throw new DocumentError(
      /too many bytes/.test(message)
        ? "The DOCX archive is corrupt or crafted: an entry inflates past its declared size"
        : `The DOCX file is corrupt: ${message.slice(0, 200)}`,
    );
  } finally {
    zip.close();
  }
}

const FLATE = /\/(?:FlateDecode|Fl)\b/;

/**
 * A PDF's Flate-compressed streams inflated (and discarded) before pdf.js reads any of them, each
 * with zlib's output capped at what the limit leaves, so a stream that inflates to gigabytes costs
 * at most the limit. The scan is deliberately simple (every `stream … endstream` whose dictionary
 * names FlateDecode), which over- rather than under-counts. Streams of an encrypted PDF cannot be
 * inflated before decryption and are bounded by the parse process's memory and time limits only.
 */
export function checkPdfInflation(bytes: Buffer, limits: DocumentLimits): void {
  const text = bytes.toString("latin1");
  // A fresh expression per call: a shared global one keeps its lastIndex after a throw, and the
  // next document's scan would start past its first streams.
  const STREAM = /stream\r?\n/g;
  let total = 0;
  for (let m = STREAM.exec(text); m; m = STREAM.exec(text)) {
    const start = m.index + m[0].length;
    const end = text.indexOf("endstream", start);
    if (end < 0) break;
    STREAM.lastIndex = end + 9;
    const dictStart = text.lastIndexOf("<<", m.index);
    if (dictStart < 0 || !FLATE.test(text.slice(Math.max(dictStart, m.index - 4096), m.index))) {
      continue;
    }
    const compressed = bytes.subarray(start, end);
    const room = limits.maxInflatedBytes - total;
    let inflated: number;
    try {
      inflated = inflateSync(compressed, {
        maxOutputLength: room + 1,
        finishFlush: zlib.Z_SYNC_FLUSH,
      }).length;
    } catch (err) {
      // Not zlib data (encrypted, or damaged): pdf.js decides what to make of it.
      if ((err as { code?: string }).code !== "ERR_BUFFER_TOO_LARGE") continue;
      inflated = room + 1; // zlib stopped at the cap: past the limit
    }
    total += inflated;
    if (total > limits.maxInflatedBytes) {
      throw overInflated("The PDF's compressed streams inflate", limits.maxInflatedBytes, limits);
    }
    checkRatio("A PDF stream", inflated, compressed.length, limits);
  }
}

function tooDeep(format: string, depth: number, limits: DocumentLimits): DocumentLimitError {
  return new DocumentLimitError(
    "maxDepth",
    `The ${format} nests at least ${depth} levels deep`,
    limits.maxDepth,
  );
}

/** JSON nesting, counted in one pass over the text (strings skipped), before a recursive parser sees it. */
export function checkJsonDepth(source: string, limits: DocumentLimits): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limits.maxDepth) throw tooDeep("JSON", depth, limits);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/**
 * HTML element nesting as a browser would build it, through htmlparser2's tokenizer (which
 * closes implied and void elements), before the DOM and the recursive extraction are built.
 */
export async function checkHtmlDepth(html: string, limits: DocumentLimits): Promise<void> {
  const { Parser } = await import("htmlparser2");
  let depth = 0;
  let error: DocumentLimitError | undefined;
  const parser = new Parser({
    onopentag() {
      if (++depth > limits.maxDepth && !error) {
        error = tooDeep("HTML", depth, limits);
        parser.pause();
      }
    },
    onclosetag() {
      depth--;
    },
  });
  parser.end(html);
  if (error) throw error;
}

/** Leading container markers of a Markdown line: block quotes, list items, their indentation. */
const CONTAINERS = /^(?:[ \t]*(?:>|[-*+](?=[ \t])|\d{1,9}[.)](?=[ \t])))+/;

/**
 * Markdown container nesting (block quotes, lists and their indentation), estimated per line
 * before the CommonMark parser runs: its cost grows steeply with nesting (512 nested list levels
 * take seconds) and deep block quotes overflow its stack.
 */
export function checkMarkdownDepth(source: string, limits: DocumentLimits): void {
  for (const line of source.split("\n")) {
    const lead = CONTAINERS.exec(line)?.[0] ?? /^[ \t]*/.exec(line)?.[0] ?? "";
    const markers = lead.replace(/[ \t\d.)]/g, "").length;
    const indent = lead.replace(/\t/g, "    ").replace(/[^ ]/g, "").length;
    const depth = Math.max(markers, Math.floor(indent / 2));
    if (depth > limits.maxDepth) throw tooDeep("Markdown", depth, limits);
  }
}
