import type { AddMemoryResponse, Memory } from "@engram/sdk";
import type { Command } from "commander";
import { collect, pages, withApiClient } from "./api-client.ts";
import {
  type ClientFlags,
  cliConfig,
  clientOptions,
  intOption,
  jsonObjectOption,
  run,
} from "./command-kit.ts";
import { table } from "./output.ts";

/** --user-id, --agent-id, --session-id: the scope a memory belongs to. */
export interface ScopeFlags {
  userId?: string;
  agentId?: string;
  sessionId?: string;
}

export function scopeOptions(command: Command): Command {
  return command
    .option("--user-id <id>", "end user the memories belong to")
    .option("--agent-id <id>", "agent the memories belong to")
    .option("--session-id <id>", "session (conversation) the memories belong to");
}

export function scopeOf(flags: ScopeFlags) {
  return {
    ...(flags.userId ? { user_id: flags.userId } : {}),
    ...(flags.agentId ? { agent_id: flags.agentId } : {}),
    ...(flags.sessionId ? { session_id: flags.sessionId } : {}),
  };
}

const api = <T>(flags: ClientFlags, fn: Parameters<typeof withApiClient<T>>[2]) =>
  withApiClient(cliConfig(), flags.url, fn);

const addResults = (r: AddMemoryResponse) =>
  table(r.results, [
    { header: "ID", value: (m) => m.id, full: true },
    { header: "EVENT", value: (m) => m.event },
    { header: "MEMORY", value: (m) => m.memory },
  ]);

const memoryRows = (rows: readonly Memory[]) =>
  table(rows, [
    { header: "ID", value: (m) => m.id, full: true },
    { header: "USER", value: (m) => m.user_id },
    { header: "AGENT", value: (m) => m.agent_id },
    { header: "SESSION", value: (m) => m.session_id },
    { header: "CREATED", value: (m) => m.created_at },
    { header: "MEMORY", value: (m) => m.memory },
  ]);

/** `engram memories …`: the memory API with ENGRAM_API_KEY. */
export function registerMemoryCommands(program: Command): void {
  const memories = program
    .command("memories")
    .description("Add, search, list and delete memories (ENGRAM_API_KEY)");

  clientOptions(
    scopeOptions(
      memories
        .command("add")
        .argument("<text>", "what to remember")
        .option("--metadata <json>", "a JSON object stored with it", jsonObjectOption)
        .option("--timestamp <date-time>", "when it was said (ISO 8601; default: now)")
        .option("--infer", "extract facts and reconcile them with the scope's memories")
        .description("Store a memory"),
    ),
  ).action(
    (
      text: string,
      opts: ClientFlags &
        ScopeFlags & { metadata?: Record<string, unknown>; timestamp?: string; infer?: boolean },
    ) =>
      run(
        opts,
        () =>
          api(opts, (c) =>
            c.addMemory({
              text,
              ...scopeOf(opts),
              ...(opts.metadata ? { metadata: opts.metadata } : {}),
              ...(opts.timestamp ? { timestamp: opts.timestamp } : {}),
              ...(opts.infer ? { infer: true } : {}),
            }),
          ),
        addResults,
      ),
  );

  clientOptions(
    scopeOptions(
      memories
        .command("search")
        .argument("<query>", "what to look for")
        .option("--limit <n>", "at most this many results (default 10)", intOption(1, 100))
        .description("Search memories by meaning and words"),
    ),
  ).action((query: string, opts: ClientFlags & ScopeFlags & { limit?: number }) =>
    run(
      opts,
      () =>
        api(opts, (c) =>
          c.searchMemories({
            query,
            ...scopeOf(opts),
            ...(opts.limit ? { limit: opts.limit } : {}),
          }),
        ),
      (r) =>
        table(r.results, [
          { header: "ID", value: (m) => m.id, full: true },
          { header: "SCORE", value: (m) => m.score.toFixed(3) },
          { header: "USER", value: (m) => m.user_id },
          { header: "MEMORY", value: (m) => m.memory },
        ]),
    ),
  );

  clientOptions(
    scopeOptions(
      memories
        .command("list")
        .option("--limit <n>", "at most this many (default 100)", intOption(1, 1_000_000))
        .description("List current memories, newest first"),
    ),
  ).action((opts: ClientFlags & ScopeFlags & { limit?: number }) =>
    run(
      opts,
      () =>
        api(opts, (c) =>
          collect(
            pages(
              (cursor) =>
                c.listMemories({ ...scopeOf(opts), limit: 100, ...(cursor ? { cursor } : {}) }),
              opts.limit ?? 100,
            ),
          ),
        ),
      memoryRows,
    ),
  );

  clientOptions(
    scopeOptions(
      memories
        .command("delete")
        .argument("[ids...]", "memory ids (mem_…)")
        .option("--yes", "with a scope and no ids: confirm deleting all its memories")
        .description("Delete memories by id, or every memory of a scope (--user-id … --yes)"),
    ),
  ).action((ids: string[], opts: ClientFlags & ScopeFlags & { yes?: boolean }) =>
    run(
      opts,
      async () => {
        const scope = scopeOf(opts);
        if (ids.length > 0 && Object.keys(scope).length > 0) {
          throw new Error(
            "give memory ids or a scope (--user-id, --agent-id, --session-id), not both",
          );
        }
        if (ids.length > 0) {
          return api(opts, async (c) => {
            const results = [];
            for (const id of ids) results.push(await c.deleteMemory(id));
            return { results };
          });
        }
        if (Object.keys(scope).length === 0) {
          throw new Error(
            "name the memories to delete: ids, or a scope with --user-id, --agent-id or --session-id",
          );
        }
        if (!opts.yes) {
          throw new Error(
            "deleting every memory of a scope cannot be undone: pass --yes to confirm",
          );
        }
        return api(opts, (c) => c.deleteMemories(scope));
      },
      (r) =>
        "results" in r
          ? table(r.results, [
              { header: "ID", value: (d) => d.id, full: true },
              { header: "DELETED", value: (d) => (d.deleted ? "yes" : "no") },
            ])
          : `deleted ${r.deleted} memories`,
    ),
  );
}
