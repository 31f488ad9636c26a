import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { pino } from "pino";
import { createRedisConnection } from "../cache/redis-connection.ts";
import { createRedisChatCache } from "../chat/chat-cache.ts";
import type { Config } from "../config/config.ts";
import { openDatabase, prepareSchema } from "../db/open-database.ts";
import { createEmbedder, embeddingModel } from "../embeddings/create-embedder.ts";
import { withQueryCache } from "../embeddings/query-cache.ts";
import { type KnowledgeModule, startKnowledge } from "../knowledge/knowledge-module.ts";
import { type MemoryEventsModule, startMemoryEvents } from "../memories/memory-event-module.ts";
import { createMemories } from "../memories/memory-module.ts";
import { loadPlans } from "../plans/plans.ts";
import { createCounters } from "../telemetry/counters.ts";
import { logOptions } from "../telemetry/log-options.ts";
import { startWebhooks, type WebhooksModule } from "../webhooks/webhook-module.ts";
import type { JobLogger } from "./job.ts";
import { workerJobs } from "./jobs.ts";
import { startScheduler } from "./scheduler.ts";

export interface Worker {
  /** JSON lines on stdout, like the API's. */
  log: JobLogger;
  /** The names of the jobs it runs. */
  jobs: string[];
  /** The address of its Prometheus /metrics, when ENGRAM_WORKER_METRICS_PORT is set. */
  metricsUrl: string | undefined;
  /** Stops scheduling, lets the running job reach its next safe point, closes Redis and the database. */
  close(): Promise<void>;
}

/**
 * Composition root of `engram worker`: config → database (the application role) → Redis → jobs.
 * Cluster mode only: the embedded database belongs to the one `engram serve` process, which runs
 * the same jobs itself.
 */
export async function createWorker(config: Config): Promise<Worker> {
  if (!config.databaseUrl) {
    throw new Error(
      "engram worker needs DATABASE_URL (cluster mode); in embedded mode `engram serve` runs the worker's jobs itself",
    );
  }
  const log = pino(logOptions(config.logLevel, "engram-worker"));
  // Documents' chunks count against their tenant's storage quota, by the same plans as the API.
  const plans = config.plansFile ? loadPlans(config.plansFile) : loadPlans();
  const counters = createCounters();
  // Never the owner's connection: jobs run as the application role, like requests.
  const db = await openDatabase({ ...config, databaseOwnerUrl: undefined });
  const redis = config.redisUrl
    ? createRedisConnection({ url: config.redisUrl, prefix: config.redisPrefix, counters })
    : undefined;
  let knowledge: KnowledgeModule | undefined;
  let events: MemoryEventsModule | undefined;
  let webhooks: WebhooksModule | undefined;
  let metricsServer: HttpServer | undefined;
  let metricsUrl: string | undefined;
  const model = embeddingModel(config.embedder);
  const embedder = withQueryCache(await createEmbedder(config.embedder), { max: 100, counters });
  try {
    // The same checks as `engram serve`: a current schema, and a least-privilege role.
    await prepareSchema(db, model);
    await redis?.connect(log);
    // The reading service: this process consumes the ingestion queue.
    // A document this process makes searchable voids the agents' cached answers of its project in
    // every API process (the shared cache lives in Redis; without Redis there is none to void).
    const chatCache = redis && createRedisChatCache(redis);
    // Webhook deliveries: this process sends them, and its changes record them.
    webhooks = await startWebhooks({ config, db, log, consume: true });
    knowledge = await startKnowledge({
      webhooks: webhooks.hooks,
      config,
      db,
      model,
      embedder,
      plans,
      counters,
      log,
      consume: true,
      onKnowledgeChange:
        chatCache && ((tenantId, projectId) => chatCache.bump(tenantId, projectId)),
    });
    // Asynchronous adds: this process runs them through the memory service, as the API would.
    const { memories } = createMemories({
      config,
      db,
      model,
      embedder,
      redis,
      counters,
      log,
      webhooks: webhooks.hooks,
    });
    events = await startMemoryEvents({ config, db, memories, plans, log, consume: true });
    const registry = knowledge.metrics.registry;
    if (config.ingest.metricsPort !== undefined) {
      metricsServer = createHttpServer((req, res) => {
        if (req.url !== "/metrics") {
          res.writeHead(404).end();
          return;
        }
        registry.metrics().then(
          (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
          () => res.writeHead(500).end(),
        );
      });
      const server = metricsServer;
      await new Promise<void>((resolve) =>
        server.listen(config.ingest.metricsPort, config.host, resolve),
      );
      const address = server.address();
      if (address && typeof address === "object")
        metricsUrl = `http://${config.host}:${address.port}/metrics`;
    }
  } catch (err) {
    await events?.stop();
    await knowledge?.stop();
    await webhooks?.stop();
    await redis?.close();
    await embedder.close();
    await db.close();
    throw err;
  }
  const jobs = workerJobs(config);
  const scheduler = startScheduler(jobs, { db, redis, log });
  let closing: Promise<void> | undefined;
  return {
    log,
    jobs: [...jobs.map((j) => j.name), "ingest", "webhooks"],
    metricsUrl,
    close() {
      closing ??= (async () => {
        metricsServer?.close();
        await events?.stop();
        await knowledge?.stop();
        await webhooks?.stop();
        await scheduler.stop();
        await redis?.close();
        await embedder.close();
        await db.close();
      })();
      return closing;
    },
  };
}
