// The parse process (knowledge/parse-sandbox.ts): parses and chunks one untrusted document at a
// time, away from the process that serves requests. It holds no credentials (it is started with an
// empty environment) and touches no database; it gets bytes and limits and answers with chunks.
// Run by Node's own type stripping, so this file and its imports use only erasable TypeScript.
import type { DocumentLimits } from "../config/ingest-config.ts";
import { type Chunk, type ChunkOptions, chunkBlocks } from "./chunker.ts";
import { type MediaType, parseDocument } from "./parse-document.ts";
import { DocumentError } from "./parsed-document.ts";

/** What the server sends: one document. */
export interface ParseTask {
  bytes: Uint8Array;
  mediaType: MediaType;
  limits: DocumentLimits;
  chunking: ChunkOptions;
}

/** What the parse process answers; `rss` lets the server retire a process that grew large. */
export type ParseReply =
  | { type: "ready" }
  | {
      type: "done";
      chunks: Chunk[];
      pages: number | null;
      /** Seconds spent parsing and chunking, for the server's processing-time metrics. */
      seconds: { parse: number; chunk: number };
      rss: number;
    }
  | { type: "refused"; reason: string; rss: number };

const send = (reply: ParseReply) => process.send?.(reply);

async function run(task: ParseTask): Promise<ParseReply> {
  const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
  const rss = () => process.memoryUsage.rss();
  try {
    const t0 = performance.now();
    const parsed = await parseDocument(bytes, task.mediaType, task.limits);
    const t1 = performance.now();
    const chunks = chunkBlocks(parsed.blocks, {
      ...task.chunking,
      maxChunks: task.limits.maxChunks,
    });
    const seconds = { parse: (t1 - t0) / 1000, chunk: (performance.now() - t1) / 1000 };
    return { type: "done", chunks, pages: parsed.pages ?? null, seconds, rss: rss() };
  } catch (err) {
    if (err instanceof DocumentError) return { type: "refused", reason: err.message, rss: rss() };
    // A parser that throws on these bytes will throw on them again: permanent, like a corrupt file.
    const message = (err as Error).message ?? String(err);
    const reason =
      err instanceof RangeError && /call stack/i.test(message)
        ? "The document nests too deeply to parse (the parser ran out of stack)"
        : `The document could not be parsed: ${message.slice(0, 200)}`;
    return { type: "refused", reason, rss: rss() };
  }
}

process.on("message", (task: ParseTask) => {
  void run(task).then(send);
});
// The server went away (or closed the channel to retire this process): nothing left to do.
process.on("disconnect", () => process.exit(0));
send({ type: "ready" });
