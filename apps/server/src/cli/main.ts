import { type Scope, Scopes } from "@engram/contract";
import { Command, InvalidArgumentError } from "commander";
import { type Config, ConfigError, loadConfig } from "../config/config.ts";
import { mcpStdioOptions, runMcpStdio } from "../mcp/mcp-stdio.ts";
import { withAdminClient } from "./admin-client.ts";
import { reasonOf } from "./fail.ts";
import { migrateCommand } from "./migrate.ts";
import { serve } from "./serve.ts";
import { worker } from "./worker.ts";

function config(): Config {
  try {
    // The CLI is a composition root: the one place that hands the environment to the config schema.
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`engram: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** Parses --scopes: each one must be a scope keys can carry; a wrong one lists them all. */
function parseScopes(value: string): Scope[] {
  const scopes = value.split(",").map((s) => s.trim());
  const unknown = scopes.find((s) => !(Scopes as readonly string[]).includes(s));
  if (unknown !== undefined) {
    throw new InvalidArgumentError(
      `"${unknown}" is not a scope; the scopes are ${Scopes.join(",")}`,
    );
  }
  return scopes as Scope[];
}

async function run(fn: () => Promise<unknown>) {
  try {
    process.stdout.write(`${JSON.stringify(await fn(), null, 2)}\n`);
  } catch (err) {
    process.stderr.write(`engram: ${reasonOf(err)}\n`);
    process.exitCode = 1;
  }
}

const program = new Command("engram").description("Engram: memory for AI agents");

program
  .command("serve")
  .description(
    "Serve the API (embedded database in ENGRAM_DATA_DIR, or PostgreSQL when DATABASE_URL is set)",
  )
  .action(() => serve(config()));

program
  .command("migrate")
  .description(
    "Apply database migrations and build the embedding model's vector index as the schema owner (cluster mode: ENGRAM_DATABASE_OWNER_URL)",
  )
  .action(() => run(() => migrateCommand(config())));

program
  .command("worker")
  .description(
    "Run the periodic jobs (expiring Idempotency-Key records) next to the API processes (cluster mode: DATABASE_URL); embedded `engram serve` runs them itself",
  )
  .action(() => worker(config()));

program
  .command("mcp")
  .description(
    "Speak MCP on stdin/stdout for an agent host, forwarding tool calls to an Engram server (ENGRAM_URL or --url, ENGRAM_API_KEY); see docs/mcp.md",
  )
  .option("--url <url>", "server URL (default: ENGRAM_URL)")
  .action(async (opts: { url?: string }) => {
    try {
      // A composition root like config(): the one place that hands the environment over.
      await runMcpStdio(mcpStdioOptions(process.env, opts.url));
    } catch (err) {
      process.stderr.write(`engram mcp: ${reasonOf(err)}\n`);
      process.exitCode = 2;
    }
  });

const tenant = program.command("tenant").description("Manage tenants (platform admin)");
tenant
  .command("create")
  .argument("<name>", "tenant name")
  .option("--plan <plan>", "plan id (default: the plans file's default_plan)")
  .option("--url <url>", "server URL (default: http://HOST:PORT from the environment)")
  .description("Provision a tenant: prints it with its default project and first key (shown once)")
  .action((name: string, opts: { plan?: string; url?: string }) =>
    run(() =>
      withAdminClient(config(), opts.url, (admin) =>
        admin.createTenant({ name, ...(opts.plan ? { plan: opts.plan } : {}) }),
      ),
    ),
  );

const key = program.command("key").description("Manage API keys (platform admin)");
key
  .command("create")
  .argument("<tenant_id>", "tenant id (ten_…)")
  .option("--name <name>", "a label for the key")
  .option(
    "--scopes <scopes>",
    `comma-separated, of ${Scopes.join(",")} (default: all)`,
    parseScopes,
  )
  .option("--url <url>", "server URL (default: http://HOST:PORT from the environment)")
  .action((tenantId: string, opts: { name?: string; scopes?: Scope[]; url?: string }) =>
    run(() =>
      withAdminClient(config(), opts.url, (admin) =>
        admin.createKey(tenantId, {
          ...(opts.name ? { name: opts.name } : {}),
          ...(opts.scopes ? { scopes: opts.scopes } : {}),
        }),
      ),
    ),
  );

await program.parseAsync(process.argv);
