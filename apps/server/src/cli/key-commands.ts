import { type Scope, Scopes } from "@engram/contract";
import type { ApiKey, CreatedKey, CreateKeyBody } from "@engram/sdk";
import { type Command, InvalidArgumentError } from "commander";
import { withAdminClient } from "./admin-client.ts";
import { collect, pages, withApiClient } from "./api-client.ts";
import { type ClientFlags, cliConfig, clientOptions, run } from "./command-kit.ts";
import { fields, table } from "./output.ts";

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

/** A key's scopes, or "all" when it has every one. */
const scopesOf = (k: ApiKey) =>
  Scopes.every((s) => k.scopes.includes(s)) ? "all" : k.scopes.join(",");

const keyFields = (k: ApiKey) =>
  fields([
    ["id", k.id],
    ["name", k.name],
    ["prefix", k.prefix],
    ["project", k.project_id],
    ["scopes", scopesOf(k)],
    ["created", k.created_at],
    ["expires", k.expires_at ?? "never"],
    ["revoked", k.revoked_at ?? "no"],
  ]);

const createdKey = (k: CreatedKey) =>
  [keyFields(k), fields([["API key", k.key]]), "", "The API key is shown only this once."].join(
    "\n",
  );

type CreateFlags = ClientFlags & {
  name?: string;
  scopes?: Scope[];
  project?: string;
  expiresAt?: string;
};

/**
 * `engram key …`. `create <tenant_id>` uses the platform admin token (any tenant); every other
 * form uses the tenant's own key in ENGRAM_API_KEY, which needs keys:manage (ADR 0040).
 */
export function registerKeyCommands(program: Command): void {
  const key = program
    .command("key")
    .description(
      "Manage API keys: `create <tenant_id>` with the admin token, the rest with ENGRAM_API_KEY (keys:manage)",
    );

  clientOptions(
    key
      .command("create")
      .argument(
        "[tenant_id]",
        "tenant id (ten_…), with the admin token; omit to use ENGRAM_API_KEY",
      )
      .option("--name <name>", "a label for the key")
      .option(
        "--scopes <scopes>",
        `comma-separated, of ${Scopes.join(",")} (default: all; with ENGRAM_API_KEY at most its own)`,
        parseScopes,
      )
      .option("--project <project_id>", "the project the key works in (default: the default one)")
      .option("--expires-at <date-time>", "when the key stops working (ISO 8601)")
      .description("Create an API key; prints it (the secret is shown only here)"),
  ).action((tenantId: string | undefined, opts: CreateFlags) => {
    const body: CreateKeyBody = {
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.scopes ? { scopes: opts.scopes } : {}),
      ...(opts.project ? { project_id: opts.project } : {}),
      ...(opts.expiresAt ? { expires_at: opts.expiresAt } : {}),
    };
    return run(
      opts,
      () =>
        tenantId
          ? withAdminClient(cliConfig(), opts.url, (a) => a.createKey(tenantId, body))
          : withApiClient(cliConfig(), opts.url, (c) => c.createKey(body)),
      createdKey,
    );
  });

  clientOptions(
    key
      .command("list")
      .option("--revoked", "include revoked keys")
      .description("List the keys of ENGRAM_API_KEY's tenant (never their secrets)"),
  ).action((opts: ClientFlags & { revoked?: boolean }) =>
    run(
      opts,
      async () => {
        const keys = await withApiClient(cliConfig(), opts.url, (c) =>
          collect(pages((cursor) => c.listKeys({ limit: 100, ...(cursor ? { cursor } : {}) }))),
        );
        return opts.revoked ? keys : keys.filter((k) => k.revoked_at === null);
      },
      (rows) =>
        table(rows, [
          { header: "ID", value: (k) => k.id, full: true },
          { header: "NAME", value: (k) => k.name },
          { header: "PREFIX", value: (k) => k.prefix },
          { header: "PROJECT", value: (k) => k.project_id, full: true },
          { header: "SCOPES", value: scopesOf, full: true },
          { header: "LAST USED", value: (k) => k.last_used_at },
          { header: "REVOKED", value: (k) => k.revoked_at },
        ]),
    ),
  );

  clientOptions(
    key
      .command("revoke")
      .argument("<key_id>", "key id (key_…)")
      .description("Revoke a key of ENGRAM_API_KEY's tenant, at once"),
  ).action((keyId: string, opts: ClientFlags) =>
    run(opts, () => withApiClient(cliConfig(), opts.url, (c) => c.revokeKey(keyId)), keyFields),
  );
}
