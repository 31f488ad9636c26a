import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** What a stand-in's handler gets besides the request: its body, and a wait close() cancels. */
export interface StandInTools {
  /** The request body, read to its end and decoded whole (a character may span chunks). */
  text: string;
  wait(ms: number): Promise<void>;
}

/**
 * A local HTTP server standing in for an external service (a hosted LLM, a re-ranker), on a free
 * loopback port. Its close() cancels pending waits and ends every connection, answered or not.
 */
export async function startStandIn(
  handle: (req: IncomingMessage, res: ServerResponse, tools: StandInTools) => Promise<void> | void,
) {
  const timers = new Set<NodeJS.Timeout>();
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    await handle(req, res, { text: Buffer.concat(chunks).toString("utf8"), wait });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    /** http://127.0.0.1:PORT */
    root: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}

/** Sends a JSON answer unless the client is gone (its timeout may have ended the request). */
export function sendJson(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed) return;
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(text);
}
