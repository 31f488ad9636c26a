import type { Config } from "../config/config.ts";
import { createServer } from "../server.ts";
import { startOrExit } from "./fail.ts";
import { onStopSignals } from "./signals.ts";

/** `engram serve`: starts the API and drains cleanly on SIGTERM / SIGINT. */
export async function serve(config: Config): Promise<void> {
  const server = await startOrExit("serve", () => createServer(config));
  const { app } = server;
  if (server.admin.created) {
    // Printed once, on the start that generated it; later starts only say where it is kept.
    process.stdout.write(
      `\nGenerated the platform admin token (saved to ${server.admin.path}, mode 600):\n\n  ${server.admin.token}\n\n`,
    );
  }
  const shutdown = (signal: string) => {
    app.log.info({ signal }, "shutting down: draining in-flight requests");
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.log.error({ err }, "error during shutdown");
        process.exit(1);
      },
    );
  };
  onStopSignals(shutdown);
  const address = await startOrExit("serve", async () => {
    try {
      return await app.listen({ port: config.port, host: config.host });
    } catch (err) {
      await server.close();
      throw err;
    }
  });
  // Cluster mode keeps its data in PostgreSQL: naming a data directory there would mislead.
  const where = config.databaseUrl ? { database: "postgres" } : { dataDir: config.dataDir };
  app.log.info({ address, ...where }, "engram is serving");
}
