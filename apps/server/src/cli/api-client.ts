import { EngramClient, EngramError } from "@engram/sdk";
import type { Config } from "../config/config.ts";
import { reasonOf } from "./fail.ts";

/** The server a command talks to: --url, else ENGRAM_URL, else http://HOST:PORT. */
export function serverUrl(config: Config, url: string | undefined): string {
  if (url) return url;
  if (config.client.url) return config.client.url;
  const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
  return `http://${host}:${config.port}`;
}

/** Whether an error is the network failing (no answer), rather than a local or server error. */
function unreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    (err instanceof TypeError && err.message === "fetch failed") ||
    err.name === "TimeoutError" ||
    err.name === "AbortError"
  );
}

/** A problem from the server, or a network failure, as one line naming the server. */
export function explain(err: unknown, baseUrl: string, credential: string): unknown {
  if (err instanceof EngramError) {
    return new Error(`${err.message} (server ${baseUrl}, ${credential})`);
  }
  if (!unreachable(err)) return err;
  return new Error(
    `cannot reach the server at ${baseUrl} (${reasonOf(err)}; ${credential}): start it with \`npm start\`, or pass --url or set ENGRAM_URL`,
  );
}

/**
 * Calls the API of a running server with the tenant API key in ENGRAM_API_KEY (the key decides
 * the tenant and project). Every failure is one line naming the server, never the key.
 */
export async function withApiClient<T>(
  config: Config,
  url: string | undefined,
  fn: (client: EngramClient) => Promise<T>,
): Promise<T> {
  const baseUrl = serverUrl(config, url);
  const key = config.client.apiKey;
  if (!key) {
    throw new Error(
      `no API key for ${baseUrl}: set ENGRAM_API_KEY to a tenant key (egm_…; \`engram tenant create\` prints the first one)`,
    );
  }
  try {
    // Imports and exports run long: a few more retries on 429/503 than the SDK's default.
    return await fn(new EngramClient({ baseUrl, token: key, maxRetries: 5 }));
  } catch (err) {
    throw explain(err, baseUrl, "API key from ENGRAM_API_KEY");
  }
}

/** Every item of a cursor-paged list, a page at a time, up to `limit` items when given. */
export async function* pages<T>(
  page: (cursor: string | undefined) => Promise<{ results: T[]; next_cursor: string | null }>,
  limit = Number.POSITIVE_INFINITY,
): AsyncGenerator<T> {
  let cursor: string | undefined;
  let n = 0;
  do {
    const p = await page(cursor);
    for (const item of p.results) {
      if (n++ >= limit) return;
      yield item;
    }
    cursor = p.next_cursor ?? undefined;
  } while (cursor);
}

/** The items of `pages` as an array (for lists a person reads; exports stream instead). */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
