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
  fetch?: typeof fetch;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  idempotencyKey?: string;
}

/** Seconds in a Retry-After field: delay-seconds, or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterOf(headers: Headers): number | undefined {
  const value = headers.get("retry-after");
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
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
  const res = await (opts.fetch ?? fetch)(url, {
    method,
    headers,
    ...(ro.body !== undefined ? { body: JSON.stringify(ro.body) } : {}),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
  });
  const text = await res.text();
  const data: unknown = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    const problem = (data as EngramError["problem"] | undefined) ?? {
      type: "about:blank",
      title: res.statusText,
      status: res.status,
      code: "internal_error",
    };
    throw new EngramError(res.status, problem, retryAfterOf(res.headers));
  }
  return data as T;
}
