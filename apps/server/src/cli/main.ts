import { Command } from "commander";
import { cliConfig as config, run } from "./command-kit.ts";
import { registerDoctorCommand } from "./doctor-command.ts";
import { registerDocumentCommands } from "./document-commands.ts";
import { registerExportCommand } from "./export-command.ts";
import { reasonOf } from "./fail.ts";
import { registerImportCommand } from "./import-command.ts";
import { registerKeyCommands } from "./key-commands.ts";
import { registerMemoryCommands } from "./memory-commands.ts";
import { registerTenantCommands } from "./tenant-commands.ts";

// The `engram` command: every command is registered here, one block each; the bigger ones live
// in their own files (<name>-command(s).ts) and register themselves with a function. Commands
// that run the server's own parts import them when they run: a client command then starts
// without loading the whole server (it is most of the time a short command takes).
const program = new Command("engram").description("Engram: memory for AI agents");

program
  .command("serve")
  .description(
    "Serve the API (embedded database in ENGRAM_DATA_DIR, or PostgreSQL when DATABASE_URL is set)",
  )
  .action(async () => (await import("./serve.ts")).serve(config()));

program
  .command("migrate")
  .description(
    "Apply database migrations and build the embedding model's vector index as the schema owner (cluster mode: ENGRAM_DATABASE_OWNER_URL)",
  )
  .action(() =>
    run({ json: true }, async () => (await import("./migrate.ts")).migrateCommand(config())),
  );

program
  .command("worker")
  .description(
    "Run the periodic jobs (expiring Idempotency-Key records) next to the API processes (cluster mode: DATABASE_URL); embedded `engram serve` runs them itself",
  )
  .action(async () => (await import("./worker.ts")).worker(config()));

program
  .command("mcp")
  .description(
    "Speak MCP on stdin/stdout for an agent host, forwarding tool calls to an Engram server (ENGRAM_URL or --url, ENGRAM_API_KEY); see docs/mcp.md",
  )
  .option("--url <url>", "server URL (default: ENGRAM_URL)")
  .action(async (opts: { url?: string }) => {
    try {
      // A composition root like config(): the one place that hands the environment over.
      const { mcpStdioOptions, runMcpStdio } = await import("../mcp/mcp-stdio.ts");
      await runMcpStdio(mcpStdioOptions(process.env, opts.url));
    } catch (err) {
      process.stderr.write(`engram mcp: ${reasonOf(err)}\n`);
      process.exitCode = 2;
    }
  });

registerTenantCommands(program);
registerKeyCommands(program);
registerMemoryCommands(program);
registerExportCommand(program);
registerImportCommand(program);
registerDocumentCommands(program);
registerDoctorCommand(program);

await program.parseAsync(process.argv);
