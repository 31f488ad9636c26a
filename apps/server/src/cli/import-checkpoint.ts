import { createHash } from "node:crypto";
import {
  closeSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { resolve } from "node:path";

/** Bytes of the file's head hashed into its identity: cheap, and a different export differs. */
const HEAD_BYTES = 64 * 1024;

/** Which file a checkpoint belongs to: its size and the hash of its first 64 KiB. */
export interface FileIdentity {
  file: string;
  size: number;
  head_sha256: string;
}

/** Where an import stands: every line before `next_line` is stored on the server. */
export interface Checkpoint extends FileIdentity {
  version: 1;
  batch_size: number;
  /**
   * Mixed into every batch's Idempotency-Key: empty for a first import (so a rerun without the
   * checkpoint finds the same keys), random for one started with --restart (whose batches must
   * be stored even if the same lines were sent, and then deleted, within the keys' lifetime).
   */
  generation: string;
  next_line: number;
  /** Memories sent so far (all runs), and how many of them the server stored or found stored. */
  sent: number;
  added: number;
  unchanged: number;
  completed: boolean;
  updated_at: string;
}

export function fileIdentity(file: string): FileIdentity {
  const { size } = statSync(file);
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(Math.min(size, HEAD_BYTES));
    readSync(fd, head, 0, head.length, 0);
    return {
      file: resolve(file),
      size,
      head_sha256: createHash("sha256").update(head).digest("hex"),
    };
  } finally {
    closeSync(fd);
  }
}

/** The checkpoint at `path`, or undefined when there is none. */
export function readCheckpoint(path: string): Checkpoint | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as Checkpoint;
  if (parsed.version !== 1 || typeof parsed.next_line !== "number") {
    throw new Error(`${path} is not an engram import checkpoint`);
  }
  return parsed;
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.size === b.size && a.head_sha256 === b.head_sha256;
}

/** Replaces the checkpoint atomically (write, then rename), so a kill never leaves half of one. */
export function writeCheckpoint(path: string, checkpoint: Checkpoint): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(checkpoint, null, 2)}\n`);
  renameSync(tmp, path);
}

/**
 * The Idempotency-Key of one batch: a hash of the import's generation, its line range and its lines. The same lines sent
 * again (a resumed import, a rerun without the checkpoint) carry the same key, and the server
 * replays its first answer instead of storing them twice.
 */
export function batchKey(
  generation: string,
  firstLine: number,
  lastLine: number,
  lines: readonly string[],
): string {
  const hash = createHash("sha256").update(`${generation}:${firstLine}-${lastLine}\n`);
  for (const line of lines) hash.update(line).update("\n");
  return `engram-import-${hash.digest("hex").slice(0, 48)}`;
}
