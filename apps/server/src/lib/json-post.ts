/**
 * JSON over HTTP to an external model service (the LLM engine, a re-ranker): one POST read to its
 * end under an abort signal, and the retry loop around such attempts. A network error, 429 and
 * 5xx are worth another attempt (after Retry-After when the server gives one); a timeout spends
 * the budget, and any other answer is final.
 */

/** One attempt's outcome, as the retry loop sees it. */
export type Attempt<T> =
  | { kind: "ok"; value: T }
  | { kind: "retry"; error: string; retryAfter: string | null }
  | { kind: "fail"; error: string };

type Failed = Exclude<Attempt<never>, { kind: "ok" }>;

/** An answer read to its end. */
export interface JsonAnswer {
  kind: "answer";
  status: number;
  ok: boolean;
  headers: Headers;
  text: string;
  /** The text parsed, or undefined when it is not JSON. */
  body: unknown;
}

export interface PostOptions {
  headers: Record<string, string>;
  /** Ends the request and the reading of its answer (AbortSignal.timeout: a time budget). */
  signal: AbortSignal;
  /** The budget the signal stands for, said in the error when it runs out. */
  timeoutMs: number;
  /** Takes secrets out of messages: some servers echo the key, and fetch echoes bad headers. */
  redact: (message: string) => string;
}

/** POSTs `payload` as JSON; without an answer, says why as an attempt outcome. */
export async function postJson(
  url: string,
  payload: unknown,
  opts: PostOptions,
): Promise<JsonAnswer | Failed> {
  const failure = (err: unknown): Failed =>
    err instanceof Error && err.name === "TimeoutError"
      ? { kind: "fail", error: `timed out after ${opts.timeoutMs} ms` }
      : { kind: "retry", error: opts.redact(causeOf(err)), retryAfter: null };
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...opts.headers },
      body: JSON.stringify(payload),
      signal: opts.signal,
    });
  } catch (err) {
    return failure(err);
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    return failure(err);
  }
  return {
    kind: "answer",
    status: res.status,
    ok: res.ok,
    headers: res.headers,
    text,
    body: parse(text),
  };
}

/** The outcome of an answer that is not 2xx: `detail` (already redacted) says what it said. */
export function failedAnswer(answer: JsonAnswer, detail: string): Failed {
  const error = `HTTP ${answer.status} ${detail}`.trim();
  return answer.status === 429 || answer.status >= 500
    ? { kind: "retry", error, retryAfter: answer.headers.get("retry-after") }
    : { kind: "fail", error };
}

export interface RetryOptions {
  /** Attempts after the first, on `retry` outcomes. */
  maxRetries: number;
  /** Longest wait between two attempts, whatever Retry-After asks. */
  maxBackoffMs: number;
  /** performance.now() past which no attempt starts: a wait that would end later gives up. */
  deadline?: number | undefined;
}

export type Retried<T> =
  | { ok: true; value: T; attempts: number }
  | { ok: false; error: string; attempts: number };

/** Runs `attempt` until it succeeds, fails for good, or the retries (or the deadline) run out. */
export async function withRetries<T>(
  attempt: () => Promise<Attempt<T>>,
  opts: RetryOptions,
): Promise<Retried<T>> {
  for (let tries = 0; ; tries++) {
    const result = await attempt();
    const attempts = tries + 1;
    if (result.kind === "ok") return { ok: true, value: result.value, attempts };
    if (result.kind === "fail" || tries >= opts.maxRetries) {
      return { ok: false, error: result.error, attempts };
    }
    const wait = retryDelayMs(tries, result.retryAfter, opts.maxBackoffMs);
    if (opts.deadline !== undefined && performance.now() + wait >= opts.deadline) {
      return { ok: false, error: result.error, attempts };
    }
    await sleep(wait);
  }
}

/** Retry-After (seconds or an HTTP date) when given, else exponential; never above the cap. */
export function retryDelayMs(tries: number, retryAfter: string | null, capMs: number): number {
  let wanted = 250 * 2 ** tries;
  if (retryAfter !== null && retryAfter.trim() !== "") {
    const seconds = Number(retryAfter);
    const date = Date.parse(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) wanted = seconds * 1000;
    else if (Number.isFinite(date)) wanted = Math.max(0, date - Date.now());
  }
  return Math.min(wanted, capMs);
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** An error's message with its cause's (fetch hides the reason in `cause`). */
export function causeOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
