// Where the CPU went during a benchmark phase (Linux /proc): the API processes, PostgreSQL's
// backends, this load-generating process, and everything else on the machine (other jobs). On a
// small shared machine this is what bounds throughput, so the report shows it next to each number.
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";

const TICK_MS = 10; // USER_HZ is 100 on Linux

interface Sample {
  at: number;
  machineBusyMs: number;
  api: Map<number, number>;
  postgres: Map<number, number>;
  benchMs: number;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined; // the process exited meanwhile
  }
}

/** utime + stime of one process (all its threads), in ms. */
function processMs(pid: number | string): number | undefined {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

function machineBusyMs(): number {
  // cpu  user nice system idle iowait irq softirq steal: busy is everything but idle and iowait.
  const f = (read("/proc/stat")?.split("\n")[0] ?? "").split(/\s+/).slice(1).map(Number);
  const at = (i: number) => f[i] ?? 0;
  return (at(0) + at(1) + at(2) + at(5) + at(6) + at(7)) * TICK_MS;
}

const PG_SHARED = /: (checkpointer|background writer|walwriter|autovacuum|parallel worker)/;

/**
 * PostgreSQL processes that work for this benchmark: backends connected to its database, and the
 * server's shared background processes (WAL writer, checkpointer, …). Backends of other databases
 * (other people's test runs on the same server) count as "other".
 */
function postgresPids(database: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid) || read(`/proc/${pid}/comm`)?.trim() !== "postgres") continue;
    const cmd = read(`/proc/${pid}/cmdline`)?.replace(/\0/g, " ") ?? "";
    if (!cmd.includes(` ${database} `) && !PG_SHARED.test(cmd)) continue;
    const t = processMs(pid);
    if (t !== undefined) out.set(Number(pid), t);
  }
  return out;
}

export interface CpuScope {
  apiPids: readonly number[];
  database: string;
}

function cpuSample(scope: CpuScope): Sample {
  const u = process.cpuUsage();
  const api = new Map<number, number>();
  for (const pid of scope.apiPids) {
    const t = processMs(pid);
    if (t !== undefined) api.set(pid, t);
  }
  return {
    at: performance.now(),
    machineBusyMs: machineBusyMs(),
    api,
    postgres: postgresPids(scope.database),
    benchMs: (u.user + u.system) / 1000,
  };
}

/** CPU used between the samples by processes alive at the second (new ones: all of theirs). */
function delta(a: Map<number, number>, b: Map<number, number>): number {
  let sum = 0;
  for (const [pid, t] of b) sum += t - (a.get(pid) ?? 0);
  return sum;
}

/** Average cores busy between two samples, by consumer. */
export interface CpuShare {
  cores: number;
  api: number;
  postgres: number;
  bench: number;
  other: number;
}

function cpuShare(a: Sample, b: Sample): CpuShare {
  const wall = b.at - a.at;
  const per = (x: number) => Math.max(0, x / wall);
  const api = per(delta(a.api, b.api));
  const postgres = per(delta(a.postgres, b.postgres));
  const bench = per(b.benchMs - a.benchMs);
  const busy = per(b.machineBusyMs - a.machineBusyMs);
  return {
    cores: cpus().length,
    api,
    postgres,
    bench,
    other: Math.max(0, busy - api - postgres - bench),
  };
}

/** Measures fn and the CPU it (and everything else) used. */
export async function withCpu<T>(
  scope: CpuScope,
  fn: () => Promise<T>,
): Promise<T & { cpu: CpuShare }> {
  const a = cpuSample(scope);
  const result = await fn();
  return { ...result, cpu: cpuShare(a, cpuSample(scope)) };
}

export const cpuText = (c: CpuShare) =>
  `API ${c.api.toFixed(2)}, PG ${c.postgres.toFixed(2)}, load gen ${c.bench.toFixed(2)}, other ${c.other.toFixed(2)} (of ${c.cores})`;
