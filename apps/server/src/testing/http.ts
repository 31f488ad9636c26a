/** One HTTP exchange as tests look at it. */
export interface Reply {
  status: number;
  headers: Headers;
  contentType: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
  body: any;
}

/** A request with a bearer token (and a JSON body when given), its reply parsed. */
export async function call(
  url: string,
  token: string,
  method = "GET",
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    contentType: res.headers.get("content-type") ?? "",
    body: text ? JSON.parse(text) : {},
  };
}

/** call() on a path relative to a server's base URL (`v1/memories`). */
export function callPath(base: string, key: string, method: string, path: string, body?: unknown) {
  return call(new URL(path, base).toString(), key, method, body);
}

/** The client's Idempotency-Key as stored (`<route family>:<project id>:<key>`), unprefixed. */
export function clientKey(stored: string): string {
  return stored.split(":").slice(2).join(":");
}
