import { EngramAdminClient, EngramError, type Scope } from "@engram/sdk";
import { Command, InvalidArgumentError } from "commander";
import { resolveAdminToken } from "../config/admin-token.ts";
import { type Config, ConfigError, loadConfig } from "../config/config.ts";
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

/** Admin client for a running server: --url, else the configured host and port. */
function adminClient(opts: { url?: string }): EngramAdminClient {
  const cfg = config();
  const host = cfg.host === "0.0.0.0" ? "127.0.0.1" : cfg.host;
  return new EngramAdminClient({
    baseUrl: opts.url ?? `http://${host}:${cfg.port}`,
    token: resolveAdminToken(cfg.adminToken, cfg.dataDir).token,
  });
}

async function run(fn: () => Promise<unknown>) {
  try {
    process.stdout.write(`${JSON.stringify(await fn(), null, 2)}\n`);
  } catch (err) {
    const message = err instanceof EngramError ? err.message : (err as Error).message;
    process.stderr.write(`engram: ${message}\n`);
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

const tenant = program.command("tenant").description("Manage tenants (platform admin)");
tenant
  .command("create")
  .argument("<name>", "tenant name")
  .option("--plan <plan>", "plan id (default: the plans file's default_plan)")
  .option("--url <url>", "server URL (default: http://HOST:PORT from the environment)")
  .description("Provision a tenant: prints it with its default project and first key (shown once)")
  .action((name: string, opts: { plan?: string; url?: string }) =>
    run(() => adminClient(opts).createTenant({ name, ...(opts.plan ? { plan: opts.plan } : {}) })),
  );

const key = program.command("key").description("Manage API keys (platform admin)");
key
  .command("create")
  .argument("<tenant_id>", "tenant id (ten_…)")
  .option("--name <name>", "a label for the key")
  .option("--scopes <scopes>", "comma-separated scopes (default: all)", (v: string) => {
    const scopes = v.split(",").map((s) => s.trim());
    if (scopes.some((s) => !/^[a-z]+:[a-z]+$/.test(s)))
      throw new InvalidArgumentError("e.g. memories:read,memories:write");
    return scopes;
  })
  .option("--url <url>", "server URL (default: http://HOST:PORT from the environment)")
  .action((tenantId: string, opts: { name?: string; scopes?: string[]; url?: string }) =>
    run(() =>
      adminClient(opts).createKey(tenantId, {
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.scopes ? { scopes: opts.scopes as Scope[] } : {}),
      }),
    ),
  );

await program.parseAsync(process.argv);
