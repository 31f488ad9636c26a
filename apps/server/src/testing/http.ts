import assert from "node:assert/strict";

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

/** A fetch Response as tests look at it (the body parsed when it is JSON). */
export async function replyOf(res: Response): Promise<Reply & { text: string }> {
  const text = await res.text();
  const contentType = res.headers.get("content-type") ?? "";
  return {
    status: res.status,
    headers: res.headers,
    contentType,
    text,
    body: text && /json/.test(contentType) ? JSON.parse(text) : {},
  };
}

/**
 * Every problem: RFC 9457 media type, the stable code with its status, a title and type, and a
 * request id echoed in x-request-id; `field` when given. Returns the problem body.
 */
export function assertProblem(
  r: Reply,
  status: number,
  code: string,
  field?: string,
): Record<string, unknown> {
  const detail = JSON.stringify(r.body);
  assert.equal(r.status, status, detail);
  assert.match(r.contentType, /^application\/problem\+json/, detail);
  assert.equal(r.body.code, code, detail);
  assert.equal(r.body.status, status, detail);
  assert.equal(typeof r.body.title, "string", detail);
  assert.equal(r.body.type, `https://engram.dev/problems/${code}`, detail);
  assert.match(String(r.body.requestId), /^req_[0-9A-HJKMNP-TV-Z]{26}$/, detail);
  assert.equal(r.headers.get("x-request-id"), r.body.requestId, detail);
  if (field !== undefined) assert.equal(r.body.field, field, detail);
  return r.body;
}
