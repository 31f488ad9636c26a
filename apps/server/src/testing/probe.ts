/** What a bystander saw while something else went on: health checks and its own searches. */
export interface ProbeReport {
  /** Milliseconds each /healthz took, in order. */
  health: number[];
  /** Milliseconds each of the bystander's searches took. */
  search: number[];
  /** Milliseconds each of the bystander's adds took. */
  add: number[];
  /** Requests that failed (status other than expected, or no answer), with why. */
  failures: string[];
}

/**
 * A bystander tenant exercising a server in a loop until stopped: /healthz, a memory search and
 * a memory add, one after another, each with a 30 s deadline; each added memory is deleted again
 * (untimed), so the bystander's data, and with it its search's cost, stays the same throughout.
 * For the abuse suite and bench.
 */
export function startProbe(baseUrl: string, key: string, opts: { pauseMs?: number } = {}) {
  const report: ProbeReport = { health: [], search: [], add: [], failures: [] };
  let running = true;
  let n = 0;
  /** One request; its JSON answer, or undefined after recording why it failed. */
  const send = async (
    what: string,
    expect: number,
    method: string,
    path: string,
    body?: unknown,
  ) => {
    try {
      const res = await fetch(new URL(path, baseUrl), {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      if (res.status === expect) return text ? JSON.parse(text) : {};
      report.failures.push(`${what}: HTTP ${res.status}`);
    } catch (err) {
      report.failures.push(`${what}: ${(err as Error).message}`);
    }
    return undefined;
  };
  const timed = async (
    into: number[],
    what: string,
    expect: number,
    path: string,
    body?: unknown,
  ) => {
    const started = performance.now();
    const answer = await send(what, expect, body === undefined ? "GET" : "POST", path, body);
    into.push(performance.now() - started);
    return answer;
  };
  const loop = (async () => {
    while (running) {
      n++;
      await timed(report.health, "healthz", 200, "/healthz");
      await timed(report.search, "search", 200, "/v1/memories/search", {
        // A new query each time: it must be embedded, so the search waits on the model like an add.
        query: `what does the bystander like ${n}`,
        user_id: "bystander",
      });
      const added = await timed(report.add, "add", 201, "/v1/memories", {
        text: `The bystander noted fact number ${n} at ${Date.now()}`,
        user_id: "bystander",
      });
      const id = added?.results?.[0]?.id;
      if (id) await send("delete", 200, "DELETE", `/v1/memories/${id}`);
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  })();
  return {
    report,
    /** Stops after the round in flight; resolves with everything seen. */
    async stop(): Promise<ProbeReport> {
      running = false;
      await loop;
      return report;
    },
  };
}
