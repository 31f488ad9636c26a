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
 * a memory add, one after another, each with a 30 s deadline. For the abuse suite and bench.
 */
export function startProbe(baseUrl: string, key: string, opts: { pauseMs?: number } = {}) {
  const report: ProbeReport = { health: [], search: [], add: [], failures: [] };
  let running = true;
  let n = 0;
  const timed = async (
    into: number[],
    what: string,
    expect: number,
    path: string,
    body?: unknown,
  ) => {
    const started = performance.now();
    try {
      const res = await fetch(new URL(path, baseUrl), {
        method: body === undefined ? "GET" : "POST",
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
      await res.arrayBuffer();
      if (res.status !== expect) report.failures.push(`${what}: HTTP ${res.status}`);
    } catch (err) {
      report.failures.push(`${what}: ${(err as Error).message}`);
    }
    into.push(performance.now() - started);
  };
  const loop = (async () => {
    while (running) {
      n++;
      await timed(report.health, "healthz", 200, "/healthz");
      await timed(report.search, "search", 200, "/v1/memories/search", {
        query: `what does the bystander like ${n % 7}`,
        user_id: "bystander",
      });
      await timed(report.add, "add", 201, "/v1/memories", {
        text: `The bystander noted fact number ${n} at ${Date.now()}`,
        user_id: "bystander",
      });
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
