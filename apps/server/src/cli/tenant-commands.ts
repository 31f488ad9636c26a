import type { ProvisionedTenant, Tenant } from "@engram/sdk";
import type { Command } from "commander";
import { withAdminClient } from "./admin-client.ts";
import { collect, pages } from "./api-client.ts";
import { type ClientFlags, cliConfig, clientOptions, intOption, run } from "./command-kit.ts";
import { fields, table } from "./output.ts";

const tenantPairs = (t: Tenant): [string, unknown][] => [
  ["id", t.id],
  ["name", t.name],
  ["plan", t.plan],
  ["suspended", t.suspended ? `yes (${t.suspended_reason ?? "no reason given"})` : "no"],
  ["overrides", Object.keys(t.overrides).length > 0 ? t.overrides : "none"],
  ["created", t.created_at],
];
const tenantFields = (t: Tenant) => fields(tenantPairs(t));

const provisioned = (t: ProvisionedTenant) =>
  [
    fields([
      ...tenantPairs(t),
      ["project", `${t.project.id} (${t.project.name})`],
      ["key id", t.key.id],
      ["API key", t.key.key],
    ]),
    "",
    "The API key is shown only this once: keep it (export ENGRAM_API_KEY=egm_…).",
  ].join("\n");

const admin = <T>(flags: ClientFlags, fn: Parameters<typeof withAdminClient<T>>[2]) =>
  withAdminClient(cliConfig(), flags.url, fn);

/** `engram tenant …`: provisioning and lifecycle, with the platform admin token. */
export function registerTenantCommands(program: Command): void {
  const tenant = program.command("tenant").description("Manage tenants (platform admin token)");

  clientOptions(
    tenant
      .command("create")
      .argument("<name>", "tenant name")
      .option("--plan <plan>", "plan id (default: the plans file's default_plan)")
      .description(
        "Provision a tenant: prints it with its default project and first key (shown once)",
      ),
  ).action((name: string, opts: ClientFlags & { plan?: string }) =>
    run(
      opts,
      () => admin(opts, (a) => a.createTenant({ name, ...(opts.plan ? { plan: opts.plan } : {}) })),
      provisioned,
    ),
  );

  clientOptions(
    tenant
      .command("list")
      .option("--limit <n>", "at most this many tenants (default: all)", intOption(1, 1_000_000))
      .description("List tenants, newest first"),
  ).action((opts: ClientFlags & { limit?: number }) =>
    run(
      opts,
      () =>
        admin(opts, (a) =>
          collect(
            pages(
              (cursor) => a.listTenants({ limit: 100, ...(cursor ? { cursor } : {}) }),
              opts.limit,
            ),
          ),
        ),
      (rows) =>
        table(rows, [
          { header: "ID", value: (t) => t.id, full: true },
          { header: "NAME", value: (t) => t.name },
          { header: "PLAN", value: (t) => t.plan },
          { header: "SUSPENDED", value: (t) => (t.suspended ? "yes" : "no") },
          { header: "CREATED", value: (t) => t.created_at },
        ]),
    ),
  );

  clientOptions(
    tenant.command("get").argument("<tenant_id>", "tenant id (ten_…)").description("Show a tenant"),
  ).action((id: string, opts: ClientFlags) =>
    run(opts, () => admin(opts, (a) => a.getTenant(id)), tenantFields),
  );

  clientOptions(
    tenant
      .command("plan")
      .argument("<tenant_id>", "tenant id (ten_…)")
      .argument("<plan>", "plan id (`GET /v1/admin/plans` lists them)")
      .description("Move a tenant to another plan"),
  ).action((id: string, plan: string, opts: ClientFlags) =>
    run(opts, () => admin(opts, (a) => a.updateTenant(id, { plan })), tenantFields),
  );

  const suspend = (id: string, opts: ClientFlags & { reason?: string; undo?: boolean }) =>
    run(
      opts,
      () =>
        admin(opts, (a) =>
          a.updateTenant(
            id,
            opts.undo
              ? { suspended: false }
              : { suspended: true, ...(opts.reason ? { suspended_reason: opts.reason } : {}) },
          ),
        ),
      tenantFields,
    );
  clientOptions(
    tenant
      .command("suspend")
      .argument("<tenant_id>", "tenant id (ten_…)")
      .option("--reason <reason>", "why (shown to the tenant's keys in the 403)")
      .option("--undo", "lift the suspension (same as `tenant unsuspend`)")
      .description("Suspend a tenant: its keys are refused with 403 tenant_suspended"),
  ).action(suspend);
  clientOptions(
    tenant
      .command("unsuspend")
      .argument("<tenant_id>", "tenant id (ten_…)")
      .description("Lift a tenant's suspension"),
  ).action((id: string, opts: ClientFlags) => suspend(id, { ...opts, undo: true }));

  clientOptions(
    tenant
      .command("delete")
      .argument("<tenant_id>", "tenant id (ten_…)")
      .option("--yes", "really delete: every memory, document, key and project of the tenant")
      .description("Delete a tenant and all its data; prints the deletion receipt"),
  ).action((id: string, opts: ClientFlags & { yes?: boolean }) =>
    run(
      opts,
      async () => {
        if (!opts.yes) {
          throw new Error(
            `deleting ${id} removes all its data and cannot be undone: pass --yes to confirm`,
          );
        }
        return admin(opts, (a) => a.deleteTenant(id));
      },
      (receipt) =>
        [
          fields([
            ["deleted", receipt.tenant_id],
            ["at", receipt.deleted_at],
          ]),
          "",
          table(Object.entries(receipt.removed), [
            { header: "REMOVED", value: ([kind]) => kind },
            { header: "ROWS", value: ([, n]) => n },
          ]),
        ].join("\n"),
    ),
  );
}
