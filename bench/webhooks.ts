// `npm run bench:webhooks`: webhook delivery lag (from the change's commit to the receiver) under
// a burst of memory events, on PGlite (embedded) and PostgreSQL (cluster: API and delivery in one
// process here; needs scripts/services.sh). Writes bench/RESULTS-webhooks.md.
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import {
  callPath,
  startPostgresTestServer,
  startTestServer,
  startWebhookReceiver,
  type TestServer,
  type WebhookReceiver,
} from "@engram/server/testing";
import { describeCommit } from "./lib/commit.ts";
import { memoryText } from "./lib/corpus.ts";
import { ms, percentile, runLoad } from "./lib/stats.ts";

const { values: args } = parseArgs({
  options: {
    n: { type: "string", default: "1000" },
    "skip-postgres": { type: "boolean", default: false },
    "skip-pglite": { type: "boolean", default: false },
  },
});
const N = Number(args.n);
const BATCH = 100;
const log = (...a: unknown[]) => console.error(new Date().toISOString().slice(11, 19), ...a);

const ENV = {
  ENGRAM_WEBHOOKS_ALLOW_PRIVATE: "on",
  ENGRAM_WEBHOOKS_ALLOW_HTTP: "on",
  ENGRAM_INGEST_IN_PROCESS: "on",
  ENGRAM_INGEST_POLL_INTERVAL_MS: "500",
};

interface Row {
  backend: string;
  events: number;
  p50: number;
  p99: number;
  max: number;
  writeS: number;
  drainS: number;
  perSecond: number;
  tailPerSecond: number;
}

/** N memory.created events from N/100 concurrent batch adds; lag = arrival − event timestamp. */
async function burst(name: string, srv: TestServer, receiver: WebhookReceiver): Promise<Row> {
  const t = await srv.newTenant();
  const path = `/bench/${name}`;
  const hook = await callPath(srv.url, t.key, "POST", "v1/webhooks", {
    url: receiver.url(path),
    events: ["memory.created"],
  });
  if (hook.status !== 201) throw new Error(JSON.stringify(hook.body));
  const start = Date.now();
  // Two batch adds in flight: embedding the texts (local model, 2 cores) bounds the write rate.
  await runLoad(Math.ceil(N / BATCH), 2, (b) =>
    t.client.batchAddMemories({
      memories: Array.from({ length: Math.min(BATCH, N - b * BATCH) }, (_, i) => ({
        text: `${memoryText(b * BATCH + i)} #${b * BATCH + i}`,
        user_id: `u${(b * BATCH + i) % 50}`,
      })),
    }),
  );
  const written = Date.now() - start;
  log(name, "burst written in", written, "ms");
  const deadline = Date.now() + 10 * 60_000;
  while (receiver.at(path).length < N && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const got = receiver.at(path);
  if (got.length < N) throw new Error(`${name}: ${got.length} of ${N} delivered in 10 minutes`);
  const lags = got.map((r) => r.receivedAt - Date.parse(r.json.timestamp));
  const last = Math.max(...got.map((r) => r.receivedAt));
  const writtenAt = start + written;
  const afterWrites = got.filter((r) => r.receivedAt > writtenAt).length;
  log(name, "after the writes:", afterWrites, "in", (last - writtenAt) / 1000, "s");
  return {
    backend: name,
    events: got.length,
    p50: percentile(lags, 50),
    p99: percentile(lags, 99),
    max: Math.max(...lags),
    writeS: written / 1000,
    drainS: (last - start) / 1000,
    perSecond: got.length / ((last - start) / 1000),
    tailPerSecond: afterWrites / Math.max(0.001, (last - writtenAt) / 1000),
  };
}

const receiver = await startWebhookReceiver();
const rows: Row[] = [];
try {
  if (!args["skip-pglite"]) {
    const embedded = await startTestServer(ENV);
    try {
      rows.push(await burst("pglite", embedded, receiver));
    } finally {
      await embedded.close();
    }
  }
  if (!args["skip-postgres"]) {
    const cluster = await startPostgresTestServer(ENV);
    try {
      rows.push(await burst("postgres", cluster, receiver));
    } finally {
      await cluster.close();
    }
  }
} finally {
  await receiver.close();
}

const out = `# Webhook delivery lag

\`npm run bench:webhooks\` (${await describeCommit()}), ${cpus().length} CPUs, 1-minute load
${loadavg()[0]?.toFixed(1)} at the end.

A burst of ${N} memories added through \`POST /v1/memories/batch\` (${BATCH} per call, two calls
in flight), each one \`memory.created\` event for one webhook whose receiver is a local HTTP server
answering 200 at once. Lag: from the event's timestamp (set in the add's transaction, just before
commit) to the request's arrival at the receiver. The API process also delivers
(\`ENGRAM_INGEST_IN_PROCESS=on\`), with the default \`ENGRAM_WEBHOOKS_CONCURRENCY\` (8) and
\`ENGRAM_WEBHOOKS_TENANT_CONCURRENCY\` (4), polling every 500 ms.

| Backend | Events | Lag p50 (ms) | Lag p99 (ms) | Lag max (ms) | Burst written in | All delivered after | Deliveries/s | Deliveries/s once written |
| ------- | -----: | -----------: | -----------: | -----------: | ---------------: | ------------------: | -----------: | ------------------------: |
${rows
  .map(
    (r) =>
      `| ${r.backend} | ${r.events} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${r.writeS.toFixed(1)} s | ${r.drainS.toFixed(1)} s | ${r.perSecond.toFixed(0)} | ${r.tailPerSecond.toFixed(0)} |`,
  )
  .join("\n")}

Every event of the burst waits behind the ones queued before it: the lag's tail is the time to
drain the burst at the delivery rate (one tenant has at most
\`ENGRAM_WEBHOOKS_TENANT_CONCURRENCY\` deliveries in flight, fetched four at a time), not the
latency of one delivery. On PostgreSQL the deliveries keep pace with the writes. Embedded, one
PGlite connection serves both the adds (and the embedding model shares the 2 CPUs) and the
deliveries, so most deliveries wait until the burst is written, then drain at the rate of the
last column: the lag there is mostly the write time of the burst itself.
`;
writeFileSync(new URL("./RESULTS-webhooks.md", import.meta.url), out);
console.log(out);
