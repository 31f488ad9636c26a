import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

/** One request the receiver got. */
interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The status it was answered with. */
  status: number;
  /** When it arrived (Date.now()). */
  receivedAt: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
  json: any;
}

/**
 * A local webhook receiver: a real HTTP server that records every request and answers per path
 * with the statuses a test queued (then 200), so retries and ordering can be provoked.
 */
export async function startWebhookReceiver() {
  const received: Received[] = [];
  const scripted = new Map<string, number[]>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const receivedAt = Date.now();
      const path = req.url ?? "/";
      const body = Buffer.concat(chunks).toString("utf8");
      const status = scripted.get(path)?.shift() ?? 200;
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      received.push({ path, headers: req.headers, body, status, json, receivedAt });
      res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : "nope");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    /** An address of this receiver for one test (its own path). */
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    /** The next answers to requests for `path`, in order (200 once they are used up). */
    script: (path: string, statuses: number[]) => scripted.set(path, [...statuses]),
    /** The requests to `path` so far. */
    at: (path: string) => received.filter((r) => r.path === path),
    all: () => received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
export type WebhookReceiver = Awaited<ReturnType<typeof startWebhookReceiver>>;
