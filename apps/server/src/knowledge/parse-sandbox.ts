import { type ChildProcess, fork } from "node:child_process";
import { readFile } from "node:fs/promises";
import { setPriority } from "node:os";
import { fileURLToPath } from "node:url";
import type { DocumentLimits } from "../config/ingest-config.ts";
import type { Chunk, ChunkOptions } from "./chunker.ts";
import { DocumentLimitError } from "./document-limits.ts";
import type { ParseReply, ParseTask } from "./parse-child.ts";
import type { MediaType } from "./parse-document.ts";
import { DocumentError } from "./parsed-document.ts";

const CHILD = fileURLToPath(new URL("./parse-child.ts", import.meta.url));
/** How often a busy parse process's resident memory is read. */
const WATCH_MS = 100;
/** Parse processes run at a lower CPU priority than the API, so request serving wins a busy core. */
const NICE = 10;
/** A process is retired after this many documents, or once it has grown past half its limit. */
const TASKS_PER_PROCESS = 100;

interface ParseResult {
  chunks: Chunk[];
  pages: number | null;
  /** Seconds the parse process spent on each step. */
  seconds: { parse: number; chunk: number };
}

/**
 * Parses and chunks untrusted documents in separate Node processes (ADR 0020), so a hostile file
 * can exhaust only a process that serves nothing: each has a V8 heap limit, a resident-memory
 * watchdog and a wall-clock limit, runs niced, and is killed and replaced when it passes one.
 * `parse` rejects with a DocumentError for anything the document itself caused (over a limit,
 * corrupt, crashed its parser): permanent, retrying the same bytes cannot help. Any other
 * rejection (the process could not start, shutdown, `signal` aborted) is not the document's fault.
 */
export interface ParseSandbox {
  parse(bytes: Buffer, mediaType: MediaType, signal?: AbortSignal): Promise<ParseResult>;
  /** Kills every parse process; documents being parsed are rejected (and retried later). */
  close(): void;
}

interface Slot {
  child: ChildProcess;
  ready: Promise<void>;
  tasks: number;
}

/** Resident memory of a process in bytes, from /proc (Linux); undefined where there is none. */
async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

export function createParseSandbox(opts: {
  limits: DocumentLimits;
  chunking: ChunkOptions;
  /** Parse processes at most (the ingest concurrency of this process). */
  processes: number;
}): ParseSandbox {
  const { limits } = opts;
  const memoryBytes = limits.memoryMb * 1024 * 1024;
  const idle: Slot[] = [];
  const waiting: { resolve: (slot: Slot) => void; reject: (err: Error) => void }[] = [];
  const children = new Set<ChildProcess>();
  let live = 0;
  let closed = false;

  function spawnSlot(): Slot {
    const child = fork(CHILD, [], {
      // Heap limit as high as the whole ceiling: the watchdog below usually acts first, and
      // past it V8 aborts the process, which is reported as the same limit.
      execArgv: [`--max-old-space-size=${limits.memoryMb}`],
      env: {},
      serialization: "advanced",
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    children.add(child);
    child.once("exit", () => children.delete(child));
    child.stderr?.resume(); // drained here, read by a running task below
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, NICE);
      } catch {
        // not permitted here: the process still runs, only at the same priority
      }
    }
    const ready = new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null) =>
        reject(new Error(`the parse process could not start (${signal ?? `exit ${code}`})`));
      child.once("exit", onExit);
      child.once("message", (m: ParseReply) => {
        child.off("exit", onExit);
        if (m.type === "ready") resolve();
        else reject(new Error("the parse process did not start properly"));
      });
    });
    ready.catch(() => {}); // observed by the task that waits on it
    return { child, ready, tasks: 0 };
  }

  function acquire(): Promise<Slot> {
    if (closed) return Promise.reject(new Error("the parse sandbox is closed"));
    const slot = idle.pop();
    if (slot) return Promise.resolve(slot);
    if (live < opts.processes) {
      live++;
      return Promise.resolve(spawnSlot());
    }
    return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  }

  function release(slot: Slot, reusable: boolean) {
    if (!reusable || closed) {
      slot.child.kill("SIGKILL");
      const next = waiting.shift();
      // A waiting task gets a replacement, which takes the retired process's place in `live`.
      if (next) next.resolve(spawnSlot());
      else live--;
      return;
    }
    const next = waiting.shift();
    if (next) next.resolve(slot);
    else idle.push(slot);
  }

  function limitError(limit: "memoryMb" | "timeoutS"): DocumentLimitError {
    return limit === "memoryMb"
      ? new DocumentLimitError(
          "memoryMb",
          `Parsing the document needed more than ${limits.memoryMb} MiB of memory`,
          limits.memoryMb,
        )
      : new DocumentLimitError(
          "timeoutS",
          `Parsing the document took longer than ${limits.timeoutS} s`,
          limits.timeoutS,
        );
  }

  function run(slot: Slot, task: ParseTask, signal?: AbortSignal): Promise<ParseResult> {
    slot.tasks++;
    const { child } = slot;
    return new Promise<ParseResult>((resolve, reject) => {
      let stderr = "";
      let verdict: Error | undefined;
      const onStderr = (data: Buffer) => {
        stderr = (stderr + data.toString("utf8")).slice(-4096);
      };
      const stop = (why: Error) => {
        verdict ??= why;
        child.kill("SIGKILL");
      };
      const timer = setTimeout(() => stop(limitError("timeoutS")), limits.timeoutS * 1000);
      const watch = setInterval(() => {
        if (child.pid === undefined) return;
        void residentBytes(child.pid).then((rss) => {
          if (rss !== undefined && rss > memoryBytes) stop(limitError("memoryMb"));
        });
      }, WATCH_MS);
      const onAbort = () => stop(new Error("parsing was abandoned: the job is no longer ours"));
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => {
        clearTimeout(timer);
        clearInterval(watch);
        signal?.removeEventListener("abort", onAbort);
        child.stderr?.off("data", onStderr);
        child.off("message", onMessage);
        child.off("exit", onExit);
      };
      const onMessage = (reply: ParseReply) => {
        if (reply.type === "ready") return;
        done();
        release(slot, reply.rss < memoryBytes / 2 && slot.tasks < TASKS_PER_PROCESS);
        if (reply.type === "done") {
          resolve({ chunks: reply.chunks, pages: reply.pages, seconds: reply.seconds });
        } else reject(new DocumentError(reply.reason));
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null) => {
        done();
        release(slot, false);
        if (verdict) return reject(verdict);
        if (closed) return reject(new Error("the parse sandbox was closed"));
        // V8 aborts a process whose heap is full: that is the memory limit, reached first.
        if (/heap out of memory|Reached heap limit/i.test(stderr)) {
          return reject(limitError("memoryMb"));
        }
        reject(
          new DocumentError(`The document crashed its parser (${sig ?? `exit code ${code}`})`),
        );
      };
      child.stderr?.on("data", onStderr);
      child.on("message", onMessage);
      child.once("exit", onExit);
      if (signal?.aborted) return onAbort();
      child.send(task);
    });
  }

  return {
    async parse(bytes, mediaType, signal) {
      const slot = await acquire();
      try {
        await slot.ready;
      } catch (err) {
        release(slot, false);
        throw err; // not the document's fault: retried
      }
      return run(slot, { bytes, mediaType, limits, chunking: opts.chunking }, signal);
    },
    close() {
      closed = true;
      for (const child of children) child.kill("SIGKILL");
      idle.length = 0;
      for (const w of waiting.splice(0)) w.reject(new Error("the parse sandbox is closed"));
    },
  };
}
