import { once } from "node:events";
import { createWriteStream, renameSync, rmSync } from "node:fs";
import type { Memory } from "@engram/sdk";
import type { Command } from "commander";
import { pages, withApiClient } from "./api-client.ts";
import { type ClientFlags, cliConfig, clientOptions, run } from "./command-kit.ts";
import { type ScopeFlags, scopeOf, scopeOptions } from "./memory-commands.ts";
import { fields } from "./output.ts";

/**
 * One exported memory: what `engram import` needs to restore it (text, scope, metadata, and the
 * time it was said, from which the server derives valid_from), plus its original id, validity
 * and categories for reference (the server assigns those anew on import).
 */
interface ExportedMemory {
  id: string;
  text: string;
  user_id: string | null;
  agent_id: string | null;
  session_id: string | null;
  metadata: Record<string, unknown>;
  timestamp: string | null;
  valid_from: string | null;
  created_at: string;
  categories: string[];
}

const exported = (m: Memory): ExportedMemory => ({
  id: m.id,
  text: m.memory,
  user_id: m.user_id,
  agent_id: m.agent_id,
  session_id: m.session_id,
  metadata: m.metadata,
  timestamp: m.timestamp,
  valid_from: m.valid_from,
  created_at: m.created_at,
  categories: m.categories,
});

/**
 * Writes every current memory of the key's project (in a scope, when given) as JSON lines, a
 * page at a time: memory use stays one page whatever the project's size. A file is written under
 * a temporary name and renamed at the end, so an interrupted export leaves no partial file.
 */
async function exportMemories(flags: ClientFlags & ScopeFlags & { output?: string }) {
  const target = flags.output;
  const partial = target ? `${target}.partial` : undefined;
  const out = partial ? createWriteStream(partial) : process.stdout;
  let count = 0;
  try {
    await withApiClient(cliConfig(), flags.url, async (client) => {
      const all = pages((cursor) =>
        client.listMemories({ ...scopeOf(flags), limit: 100, ...(cursor ? { cursor } : {}) }),
      );
      for await (const memory of all) {
        if (!out.write(`${JSON.stringify(exported(memory))}\n`)) await once(out, "drain");
        count++;
      }
    });
    if (partial && target) {
      await new Promise<void>((resolve, reject) =>
        out.end((err?: Error | null) => (err ? reject(err) : resolve())),
      );
      renameSync(partial, target);
    }
  } catch (err) {
    if (partial) {
      out.destroy();
      rmSync(partial, { force: true });
    }
    throw err;
  }
  return { exported: count, file: target ?? null };
}

/** `engram export`: the key's memories as JSONL, to a file or stdout. */
export function registerExportCommand(program: Command): void {
  clientOptions(
    scopeOptions(
      program
        .command("export")
        .option("-o, --output <file>", "write to this file (default: stdout)")
        .description(
          "Export every current memory of ENGRAM_API_KEY's project (or a scope) as JSON lines",
        ),
    ),
  ).action((opts: ClientFlags & ScopeFlags & { output?: string }) =>
    run(
      // Without --output the memories are stdout: the summary goes to stderr, out of the way.
      { json: opts.json === true && opts.output !== undefined },
      () => exportMemories(opts),
      (r) => {
        if (r.file === null) {
          process.stderr.write(`engram: exported ${r.exported} memories\n`);
          return "";
        }
        return fields([
          ["exported", `${r.exported} memories`],
          ["file", r.file],
        ]);
      },
    ),
  );
}
