import type { Config } from "../config/config.ts";
import { createWorker } from "../worker/worker.ts";
import { startOrExit } from "./fail.ts";
import { onStopSignals } from "./signals.ts";

/** `engram worker`: runs the periodic jobs until SIGTERM / SIGINT, then stops cleanly (exit 0). */
export async function worker(config: Config): Promise<void> {
  const w = await startOrExit("worker", () => createWorker(config));
  const { log } = w;
  const shutdown = (signal: string) => {
    log.info({ signal }, "shutting down: finishing the running job");
    w.close().then(
      () => {
        log.info({}, "worker stopped");
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, "error during shutdown");
        process.exit(1);
      },
    );
  };
  onStopSignals(shutdown);
  log.info(
    { jobs: w.jobs, intervalS: config.workerIntervalS, metrics: w.metricsUrl },
    "engram worker is running",
  );
}
