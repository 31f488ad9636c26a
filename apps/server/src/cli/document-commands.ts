import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import type { EngramClient, IngestJob } from "@engram/sdk";
import type { Command } from "commander";
import { withApiClient } from "./api-client.ts";
import {
  type ClientFlags,
  cliConfig,
  clientOptions,
  intOption,
  jsonObjectOption,
  run,
} from "./command-kit.ts";
import { type ScopeFlags, scopeOf, scopeOptions } from "./memory-commands.ts";
import { table } from "./output.ts";

interface UploadFlags extends ClientFlags, ScopeFlags {
  collection?: string;
  metadata?: Record<string, unknown>;
  timeout?: number;
  wait?: boolean;
}

interface Uploaded {
  file: string;
  document_id: string | null;
  job_id: string | null;
  state: string;
  chunks: number | null;
  error: string | null;
}

/** One state line per change on stderr ("\r"-rewritten on a terminal), so stdout stays the result. */
function stateLine(file: string) {
  let last = "";
  return {
    show(state: string) {
      if (state === last) return;
      last = state;
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${file}: ${state}`);
      else process.stderr.write(`${file}: ${state}\n`);
    },
    end() {
      if (process.stderr.isTTY && last !== "") process.stderr.write("\n");
    },
  };
}

const jobState = (job: IngestJob) =>
  job.state === "active"
    ? `active${job.stage ? ` (${job.stage} ${Math.round(job.progress * 100)} %)` : ""}`
    : job.state;

/**
 * Uploads one file, then follows its ingestion job until it is no longer queued or active (or
 * the timeout passes). The Idempotency-Key is the hash of the name and bytes: running the same
 * upload again after an interruption answers the first document instead of adding a second.
 */
async function uploadOne(
  client: EngramClient,
  path: string,
  flags: UploadFlags,
): Promise<Uploaded> {
  const filename = basename(path);
  const line = stateLine(filename);
  try {
    const bytes = readFileSync(path);
    line.show(`uploading (${bytes.length} bytes)`);
    const key = createHash("sha256").update(filename).update("\n").update(bytes).digest("hex");
    const created = await client.knowledge.uploadDocument(
      { bytes, filename },
      {
        ...scopeOf(flags),
        ...(flags.collection ? { collection: flags.collection } : {}),
        ...(flags.metadata ? { metadata: flags.metadata } : {}),
      },
      { idempotencyKey: `engram-upload-${key.slice(0, 48)}` },
    );
    const result: Uploaded = {
      file: path,
      document_id: created.document_id,
      job_id: created.job_id,
      state: created.status,
      chunks: null,
      error: null,
    };
    line.show(created.status);
    if (flags.wait === false) return result;
    const deadline = Date.now() + (flags.timeout ?? 300) * 1000;
    let job: IngestJob;
    do {
      job = await client.knowledge.waitForJob(created.job_id, { timeoutMs: 250, intervalMs: 100 });
      line.show(jobState(job));
    } while ((job.state === "queued" || job.state === "active") && Date.now() < deadline);
    const doc = await client.knowledge.getDocument(created.document_id);
    line.show(doc.status === "ready" ? `ready (${doc.chunk_count} chunks)` : doc.status);
    return {
      ...result,
      state:
        doc.status === "ready" || doc.status === "failed"
          ? doc.status
          : `${job.state} (timed out waiting)`,
      chunks: doc.chunk_count,
      error: doc.error ?? job.error,
    };
  } finally {
    line.end();
  }
}

/** `engram documents upload <files…>`: the knowledge API with ENGRAM_API_KEY. */
export function registerDocumentCommands(program: Command): void {
  const documents = program
    .command("documents")
    .description("Upload documents to the knowledge base (ENGRAM_API_KEY)");

  clientOptions(
    scopeOptions(
      documents
        .command("upload")
        .argument("<files...>", "files to upload (PDF, DOCX, HTML, Markdown, text, JSON…)")
        .option("--collection <name>", "a collection to file them under")
        .option("--metadata <json>", "a JSON object stored with each", jsonObjectOption)
        .option(
          "--timeout <seconds>",
          "how long to wait for each ingestion (default 300)",
          intOption(1, 86_400),
        )
        .option("--no-wait", "return once uploaded, without waiting for ingestion")
        .description("Upload files one by one, showing each one's ingestion state"),
    ),
  ).action((files: string[], opts: UploadFlags) =>
    run(
      opts,
      async () => {
        const results = await withApiClient(cliConfig(), opts.url, async (client) => {
          const out: Uploaded[] = [];
          for (const file of files) out.push(await uploadOne(client, file, opts));
          return out;
        });
        // Every file was tried; one that did not become ready makes the command fail.
        if (results.some((r) => r.state !== "ready" && opts.wait !== false)) process.exitCode = 1;
        return results;
      },
      (rows) =>
        table(rows, [
          { header: "FILE", value: (r) => r.file },
          { header: "DOCUMENT", value: (r) => r.document_id, full: true },
          { header: "STATE", value: (r) => r.state },
          { header: "CHUNKS", value: (r) => r.chunks },
          { header: "ERROR", value: (r) => r.error },
        ]),
    ),
  );
}
