import assert from "node:assert/strict";
import { after, before } from "node:test";
import { EngramClient, EngramError, type Scope } from "@engram/sdk";
import { type BackendSuite, describeOnBackends as describeEachBackend } from "./backend-suite.ts";
import { assertProblem, type Reply, replyOf } from "./http.ts";
import type { TestServer } from "./test-server.ts";

// Route suites drive the current backend's server through the SDK: describeOnBackends here is
// backend-suite's (one real server with the local embedding model per backend, each on its own
// database), keeping that suite at hand for the helpers below. Every test makes its own
// tenant(s), so they can run in any order; suites run one after the other.
let suite: BackendSuite | undefined;

function current(): TestServer {
  if (!suite) throw new Error("route-suite helpers run only inside describeOnBackends");
  return suite.srv;
}

/**
 * Declares `<title> on <backend>` for each backend, with that backend's server running; `env`
 * adds to the server's environment.
 */
export function describeOnBackends(
  title: string,
  body: () => void,
  env: Record<string, string> = {},
): void {
  describeEachBackend(
    title,
    (s) => {
      before(() => {
        suite = s;
      });
      after(() => {
        suite = undefined;
      });
      body();
    },
    env,
  );
}

/** The current server's counters (query-cache hits and misses, …), as /metrics exports them. */
export const counters = () => current().server.counters.snapshot();

/** The current server's base URL. */
export const serverUrl = () => current().url;

/** The platform admin's SDK client of the current server. */
export const adminClient = () => current().admin;

/**
 * fetch for the SDK that checks the wire format of every error: problem+json and a request id
 * header. The SDK itself only sees the decoded body.
 */
const problemFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  if (!res.ok) {
    assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
    assert.match(res.headers.get("x-request-id") ?? "", /^req_/);
  }
  return res;
};

/** An SDK client of the current server for this key, checking every error's wire format. */
export const clientFor = (token: string) =>
  new EngramClient({ baseUrl: current().url, token, fetch: problemFetch });

/** A fresh tenant with a key carrying `scopes` (all by default). */
export async function tenant(scopes?: Scope[]) {
  const t = await current().newTenant(scopes);
  return { ...t, client: clientFor(t.key) };
}
export type Tenant = Awaited<ReturnType<typeof tenant>>;

/** A second key for an existing tenant, with only these scopes. */
export async function keyWith(t: Tenant, scopes: Scope[]) {
  const created = await current().admin.createKey(t.tenantId, { scopes });
  return clientFor(created.key);
}

/** Asserts the SDK call fails with this problem; checks the body carries code and requestId. */
export async function expectProblem(
  call: Promise<unknown>,
  status: number,
  code: string,
  field?: string,
) {
  const err = await call.then(
    (ok) => assert.fail(`expected ${status} ${code}, got ${JSON.stringify(ok)}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof EngramError, `expected EngramError, got ${String(err)}`);
  const detail = JSON.stringify(err.problem);
  assert.equal(err.status, status, detail);
  assert.equal(err.problem.status, status, detail);
  assert.equal(err.code, code, detail);
  assert.match(err.problem.requestId ?? "", /^req_/, detail);
  if (field !== undefined) assert.equal(err.problem.field, field, detail);
  return err.problem;
}

/** A raw request, for what the SDK cannot express (no key, malformed JSON, huge bodies). */
export async function raw(
  method: string,
  path: string,
  opts: { token?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  return replyOf(
    await fetch(new URL(path, current().url), {
      method,
      headers,
      ...(opts.body !== undefined ? { body: opts.body } : {}),
    }),
  );
}

/** No Authorization header, and a non-bearer one: both 401 unauthenticated. */
export async function expectUnauthenticated(method: string, path: string, body?: unknown) {
  const payload = body === undefined ? {} : { body: JSON.stringify(body) };
  assertProblem(await raw(method, path, payload), 401, "unauthenticated");
  const res = await fetch(new URL(path, current().url), {
    method,
    headers: { authorization: "Basic dXNlcjpwYXNz", "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  assertProblem(await replyOf(res), 401, "unauthenticated");
}

/** Malformed JSON is 400 invalid_json; an empty body is no body, which this route needs. */
export async function expectInvalidJson(t: Tenant, method: string, path: string) {
  for (const body of ['{"text": "unterminated', "{text: 'single quotes'}", " "]) {
    assertProblem(await raw(method, path, { token: t.key, body }), 400, "invalid_json");
  }
  const empty = await raw(method, path, { token: t.key, body: "" });
  assertProblem(empty, 400, "validation_failed", "body");
  assert.equal(empty.body.detail, "A JSON body is required");
}

/** The ids of hits, results or memories, in order. */
export const ids = (hits: readonly { id: string }[]) => hits.map((h) => h.id);
/** A sorted copy, for comparing sets of ids. */
export const sorted = (xs: readonly string[]) => [...xs].sort();
/** True for a timestamp in the API's form: ISO 8601 in UTC with milliseconds. */
export const isIso = (s: string | null) => s !== null && new Date(s).toISOString() === s;
