import type { ErrorCode, Problem } from "@engram/contract";

/** An API error: the server's problem+json, with its stable `code`. */
export class EngramError extends Error {
  override name = "EngramError";
  constructor(
    readonly status: number,
    /**
     * The problem body as the server sent it. Its `code` is a plain string here because a newer
     * server may answer with a code this SDK version does not list.
     */
    readonly problem: Omit<Problem, "code"> & { code: string },
    /** Seconds to wait before retrying, from `Retry-After` (429 rate_limited, 503), if sent. */
    readonly retryAfterSeconds?: number,
  ) {
    super(`${problem.code}: ${problem.detail ?? problem.title}`);
  }

  /**
   * The problem's stable code, typed as the closed set of codes this SDK version knows. A code
   * added to the server after this version is passed through unchanged (the type cannot name it),
   * so a `switch` on `code` keeps a `default` branch; `status` still tells that code's class.
   */
  get code(): ErrorCode {
    return this.problem.code as ErrorCode;
  }
}

export interface ClientOptions {
  /** Base URL of the Engram server, e.g. http://127.0.0.1:8080 */
  baseUrl: string;
  /** Bearer credential: a tenant API key, or the admin token for the admin client. */
  token: string;
  /** Per-request timeout in milliseconds (default 30 s). */
  timeoutMs?: number;
  /**
   * Times a request refused with 429 or 503 is sent again (default 2), after the server's
   * `Retry-After` (or 0.5 s, 1 s, 2 s… without one). Such a refusal did nothing, so every method
   * is retried; 0 turns retrying off.
   */
  maxRetries?: number;
  /** Longest wait for one retry; a longer Retry-After is thrown to the caller (default 30 s). */
  maxRetryWaitMs?: number;
  fetch?: typeof fetch;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  idempotencyKey?: string;
}

/** Seconds in a Retry-After field: delay-seconds, or an HTTP date (RFC 9110 §10.2.3). */
function retryAfterOf(headers: Headers): number | undefined {
  const value = headers.get("retry-after");
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

const RETRYABLE = new Set([429, 503]);

/**
 * Sends a request (fetch's arguments, `init` made fresh per attempt), again after a 429 or 503
 * for as long as ClientOptions allows: waiting what Retry-After asks, or backing off without it.
 */
export async function fetchWithRetries(
  opts: ClientOptions,
  url: URL,
  init: () => RequestInit,
): Promise<Response> {
  const maxRetries = opts.maxRetries ?? 2;
  const maxWaitMs = opts.maxRetryWaitMs ?? 30_000;
  for (let attempt = 0; ; attempt++) {
    const res = await (opts.fetch ?? fetch)(url, init());
    if (!RETRYABLE.has(res.status) || attempt >= maxRetries) return res;
    const after = retryAfterOf(res.headers);
    const waitMs = after === undefined ? 500 * 2 ** attempt : after * 1000;
    if (waitMs > maxWaitMs) return res;
    await res.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

/** The EngramError of a refused response, from its decoded problem body (if it has one). */
export function errorOf(res: Response, body: unknown): EngramError {
  const problem = (body as EngramError["problem"] | undefined) ?? {
    type: "about:blank",
    title: res.statusText,
    status: res.status,
    code: "internal_error",
  };
  return new EngramError(res.status, problem, retryAfterOf(res.headers));
}

/** Sends one request and decodes JSON, throwing EngramError for problem responses. */
export async function request<T>(
  opts: ClientOptions,
  method: string,
  path: string,
  ro: RequestOptions = {},
): Promise<T> {
  const url = new URL(path, opts.baseUrl.endsWith("/") ? opts.baseUrl : `${opts.baseUrl}/`);
  for (const [k, v] of Object.entries(ro.query ?? {})) {
    if (v !== undefined) url.searchParams.set(k, String(v));
  }
  const headers: Record<string, string> = { authorization: `Bearer ${opts.token}` };
  if (ro.body !== undefined) headers["content-type"] = "application/json";
  if (ro.idempotencyKey) headers["idempotency-key"] = ro.idempotencyKey;
  const res = await fetchWithRetries(opts, url, () => ({
    method,
    headers,
    ...(ro.body !== undefined ? { body: JSON.stringify(ro.body) } : {}),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
  }));
  const text = await res.text();
  const data: unknown = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    throw errorOf(res, data);
  }
  return data as T;
}

/** Every result of a cursor-paginated list, a page at a time. */
export async function* allPages<T>(
  page: (cursor: { cursor?: string }) => Promise<{ results: T[]; next_cursor: string | null }>,
): AsyncGenerator<T> {
  let cursor: string | undefined;
  do {
    const p = await page(cursor ? { cursor } : {});
    yield* p.results;
    cursor = p.next_cursor ?? undefined;
  } while (cursor);
}
