import type { Config } from "../config/config.ts";
import { createServer } from "../server.ts";

/** `engram serve`: starts the API and drains cleanly on SIGTERM / SIGINT. */
export async function serve(config: Config): Promise<void> {
  const server = await createServer(config);
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
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
  const address = await app.listen({ port: config.port, host: config.host });
  app.log.info({ address, dataDir: config.dataDir }, "engram is serving");
}
