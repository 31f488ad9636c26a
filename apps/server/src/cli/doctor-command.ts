import type { Command } from "commander";
import { table } from "./output.ts";

/** `engram doctor`: checks what this machine's environment would run the server with. */
export function registerDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .option("--json", "print JSON instead of a table")
    .description(
      "Check the configuration, database, migrations, Redis, embedding model and disk; exit 1 if any check fails",
    )
    .action(async (opts: { json?: boolean }) => {
      // The doctor reports an invalid environment as a failed check rather than exiting 2.
      const { runChecks } = await import("./doctor-checks.ts");
      const checks = await runChecks(process.env);
      const healthy = checks.every((c) => c.status !== "fail");
      const text = opts.json
        ? JSON.stringify({ ok: healthy, checks }, null, 2)
        : table(checks, [
            { header: "CHECK", value: (c) => c.check },
            { header: "STATUS", value: (c) => c.status },
            { header: "REASON", value: (c) => c.reason, full: true },
          ]);
      process.stdout.write(`${text}\n`);
      process.exitCode = healthy ? 0 : 1;
    });
}
