import { randomUUID } from "node:crypto";
import { createReadStream, rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { BATCH_MAX } from "@engram/contract";
import {
  type AddMemoryBody,
  type AddMemoryResponse,
  type EngramClient,
  EngramError,
} from "@engram/sdk";
import type { Command } from "commander";
import { withApiClient } from "./api-client.ts";
import { type ClientFlags, cliConfig, clientOptions, intOption, run } from "./command-kit.ts";
import {
  batchKey,
  type Checkpoint,
  fileIdentity,
  readCheckpoint,
  sameFile,
  writeCheckpoint,
} from "./import-checkpoint.ts";
import { fields } from "./output.ts";
import { createProgress } from "./progress.ts";

const DEFAULT_BATCH = 100;
/**
 * Batches in flight at once. One by default: on a server whose embedding saturates its cores a
 * second batch in flight only queues behind the first (bench/RESULTS-import.md).
 */
const DEFAULT_CONCURRENCY = 1;

interface ImportFlags extends ClientFlags {
  batchSize?: number;
  concurrency?: number;
  checkpoint?: string;
  restart?: boolean;
  progress?: boolean;
}

const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);

/**
 * One exported line as the body that adds it back: the text verbatim (infer off), its scope,
 * metadata and the time it was said (else when it was stored), from which the server derives
 * valid_from as it did the first time.
 */
function bodyOf(line: string, lineNo: number): AddMemoryBody {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`line ${lineNo}: not JSON`);
  }
  const text = str(record?.text);
  if (typeof record !== "object" || record === null || text === undefined) {
    throw new Error(`line ${lineNo}: "text" must be a non-empty string`);
  }
  const metadata = record.metadata;
  const timestamp = str(record.timestamp) ?? str(record.created_at);
  return {
    text,
    infer: false,
    ...(str(record.user_id) ? { user_id: str(record.user_id) } : {}),
    ...(str(record.agent_id) ? { agent_id: str(record.agent_id) } : {}),
    ...(str(record.session_id) ? { session_id: str(record.session_id) } : {}),
    ...(metadata && typeof metadata === "object" && !Array.isArray(metadata)
      ? { metadata: metadata as Record<string, unknown> }
      : {}),
    ...(timestamp ? { timestamp } : {}),
  };
}

/**
 * A batch the server refused for one memory's field (`memories[3].metadata`) names that memory's
 * line in the file, which is what the user can fix; other errors pass through.
 */
function refusedLine(err: unknown, batch: readonly { lineNo: number }[]): unknown {
  if (!(err instanceof EngramError) || err.status !== 400) return err;
  const at = /^memories\[(\d+)\]/.exec(err.problem.field ?? "");
  const line = at ? batch[Number(at[1])]?.lineNo : undefined;
  if (!at || line === undefined) return err;
  // "memories[3].user_id" is the batch's view; the line's own field is "user_id".
  const detail = (err.problem.detail ?? err.problem.title).replaceAll(`${at[0]}.`, "");
  return new Error(`line ${line}: ${err.problem.code}: ${detail}`);
}

/** Lines with a record in them (blank lines are skipped), counted without keeping them. */
async function countRecords(file: string): Promise<number> {
  let n = 0;
  for await (const line of createInterface({
    input: createReadStream(file),
    crlfDelay: Infinity,
  })) {
    if (line.trim() !== "") n++;
  }
  return n;
}

/**
 * Adds the memories of a JSONL file in batches (POST /v1/memories/batch), streaming it: at most
 * one batch is held in memory. After each stored batch the checkpoint records the next line, so
 * a rerun continues there; each batch's Idempotency-Key is derived from its lines, so a batch
 * sent twice (killed before the checkpoint was written, or the checkpoint lost) is stored once.
 */
async function importMemories(client: EngramClient, file: string, flags: ImportFlags) {
  const identity = fileIdentity(file);
  const checkpointPath = flags.checkpoint ?? `${file}.import-checkpoint.json`;
  if (flags.restart) rmSync(checkpointPath, { force: true });
  const previous = readCheckpoint(checkpointPath);
  if (previous && !sameFile(previous, identity)) {
    throw new Error(
      `${checkpointPath} belongs to another version of ${file} (size or content changed): pass --restart to import from the first line`,
    );
  }
  const batchSize = previous?.batch_size ?? flags.batchSize ?? DEFAULT_BATCH;
  const checkpoint: Checkpoint = previous ?? {
    version: 1,
    ...identity,
    batch_size: batchSize,
    generation: flags.restart ? randomUUID() : "",
    next_line: 1,
    sent: 0,
    added: 0,
    unchanged: 0,
    completed: false,
    updated_at: new Date().toISOString(),
  };
  const resumedAt = checkpoint.next_line;
  if (checkpoint.completed) {
    return {
      file,
      checkpoint: checkpointPath,
      ...summary(checkpoint),
      resumed_at_line: resumedAt,
      sent_now: 0,
      already_complete: true,
    };
  }

  const total = await countRecords(file);
  const progress =
    flags.progress === false
      ? undefined
      : createProgress("import", total, "memories", checkpoint.sent);
  const startSent = checkpoint.sent;
  const concurrency = flags.concurrency ?? DEFAULT_CONCURRENCY;
  let batch: { lineNo: number; raw: string; body: AddMemoryBody }[] = [];
  // Batches sent and not yet recorded, oldest first. They are recorded strictly in order, so the
  // checkpoint's next line always has every line before it stored.
  const inFlight: { answer: Promise<AddMemoryResponse>; lastLine: number; size: number }[] = [];

  const record = async () => {
    const oldest = inFlight.shift();
    if (!oldest) return;
    const res = await oldest.answer;
    for (const r of res.results) {
      if (r.event === "ADD") checkpoint.added++;
      else if (r.event === "NOOP") checkpoint.unchanged++;
    }
    checkpoint.sent += oldest.size;
    checkpoint.next_line = oldest.lastLine + 1;
    checkpoint.updated_at = new Date().toISOString();
    writeCheckpoint(checkpointPath, checkpoint);
    progress?.update(checkpoint.sent, checkpoint.sent - startSent);
  };

  const send = async () => {
    const sent = batch;
    batch = [];
    const first = sent[0];
    const last = sent.at(-1);
    if (!first || !last) return;
    const key = batchKey(
      checkpoint.generation,
      first.lineNo,
      last.lineNo,
      sent.map((b) => b.raw),
    );
    const answer = client
      .batchAddMemories({ memories: sent.map((b) => b.body) }, { idempotencyKey: key })
      .catch((err: unknown) => {
        throw refusedLine(err, sent);
      });
    // Awaited in order by record(); until then a rejection is not unhandled.
    answer.catch(() => {});
    inFlight.push({ answer, lastLine: last.lineNo, size: sent.length });
    if (inFlight.length >= concurrency) await record();
  };

  let lineNo = 0;
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  try {
    for await (const raw of lines) {
      lineNo++;
      if (lineNo < checkpoint.next_line || raw.trim() === "") continue;
      batch.push({ lineNo, raw, body: bodyOf(raw, lineNo) });
      if (batch.length >= batchSize) await send();
    }
    await send();
    while (inFlight.length > 0) await record();
  } catch (err) {
    // Record what the server stored before the failure, so a rerun starts after it.
    while (inFlight.length > 0) await record().catch(() => inFlight.splice(0));
    throw err;
  } finally {
    lines.close();
    progress?.stop();
  }
  checkpoint.completed = true;
  checkpoint.next_line = lineNo + 1;
  writeCheckpoint(checkpointPath, checkpoint);
  return {
    file,
    checkpoint: checkpointPath,
    ...summary(checkpoint),
    resumed_at_line: resumedAt,
    sent_now: checkpoint.sent - startSent,
    already_complete: false,
  };
}

const summary = (c: Checkpoint) => ({ sent: c.sent, added: c.added, unchanged: c.unchanged });

/** `engram import <file>`: JSONL (as `engram export` writes it) into ENGRAM_API_KEY's project. */
export function registerImportCommand(program: Command): void {
  clientOptions(
    program
      .command("import")
      .argument("<file>", "a JSONL file, one memory per line (what `engram export` writes)")
      .option(
        "--batch-size <n>",
        `memories per request (default ${DEFAULT_BATCH}; a resumed import keeps its own)`,
        intOption(1, BATCH_MAX),
      )
      .option(
        "--concurrency <n>",
        `batches in flight at once (default ${DEFAULT_CONCURRENCY})`,
        intOption(1, 8),
      )
      .option(
        "--checkpoint <file>",
        "where progress is kept (default: <file>.import-checkpoint.json)",
      )
      .option("--restart", "forget the checkpoint and start from the first line")
      .option("--no-progress", "no progress output on stderr")
      .description(
        "Import memories in batches; resumable (checkpoint) and idempotent (Idempotency-Key per batch)",
      ),
  ).action((file: string, opts: ImportFlags) =>
    run(
      opts,
      () => withApiClient(cliConfig(), opts.url, (client) => importMemories(client, file, opts)),
      (r) =>
        r.already_complete
          ? `${file} was imported already (${r.checkpoint}); pass --restart to send it again (memories stored already are not duplicated)`
          : fields([
              ["file", r.file],
              ["sent", `${r.sent_now} memories this run, ${r.sent} in all`],
              ["added", r.added],
              ["unchanged", `${r.unchanged} (already stored)`],
              ["resumed at", r.resumed_at_line > 1 ? `line ${r.resumed_at_line}` : "-"],
              ["checkpoint", r.checkpoint],
            ]),
    ),
  );
}
