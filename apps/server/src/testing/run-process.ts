import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";

// The one way tests and benchmarks run child processes: to completion (runProcess, runChecked),
// or long-running until a readiness check passes (startProcess), then stopped (stop, killAll).

/** Where a child runs: working directory, environment (an undefined value unsets it), group. */
export type ProcessOptions = Pick<SpawnOptions, "cwd" | "env" | "detached">;

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A child process with its output collected as it arrives. */
export interface RunningProcess {
  child: ChildProcess;
  /** Its exit code once it exits (null when a signal ended it, or it never started). */
  exited: Promise<number | null>;
  /** Resolves when its stdout and stderr have ended too (all its output is collected). */
  closed: Promise<void>;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved in the order they arrived. */
  output(): string;
  /**
   * Sends `signal` unless it has exited (to its whole process group when started detached), then
   * waits for the exit; SIGKILL follows after `killAfterMs` (default 30 s; Infinity: never) so a
   * child that hangs cannot hold the run.
   */
  stop(signal?: NodeJS.Signals, killAfterMs?: number): Promise<number | null>;
}

/** Starts a command without waiting for anything; its stdin is closed, its output collected. */
export function spawnProcess(
  command: string,
  args: readonly string[],
  options: ProcessOptions = {},
): RunningProcess {
  const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  const out = { stdout: "", stderr: "", both: "" };
  child.stdout?.on("data", (d) => {
    out.stdout += d;
    out.both += d;
  });
  child.stderr?.on("data", (d) => {
    out.stderr += d;
    out.both += d;
  });
  // A command that cannot start (no such binary) emits no exit: its error joins the output.
  child.on("error", (err) => {
    out.stderr += `${err.message}\n`;
    out.both += `${err.message}\n`;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => resolve(code));
    child.on("error", () => resolve(null));
  });
  // After the exit, and once its output is read to the end.
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const signal = (name: NodeJS.Signals) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      if (options.detached) process.kill(-child.pid, name);
      else child.kill(name);
    } catch {
      // It exited in between.
    }
  };
  return {
    child,
    exited,
    closed,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    output: () => out.both,
    async stop(name = "SIGTERM", killAfterMs = 30_000) {
      signal(name);
      const timer = Number.isFinite(killAfterMs)
        ? setTimeout(() => signal("SIGKILL"), killAfterMs)
        : undefined;
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * Runs a command to completion, its stdout and stderr collected. A command still running after
 * `timeoutMs` (default 2 min; Infinity: no limit) is killed, so a hung child fails its test
 * instead of holding the run.
 */
export async function runProcess(
  command: string,
  args: readonly string[],
  options: ProcessOptions & { timeoutMs?: number } = {},
): Promise<Finished> {
  const { timeoutMs = 120_000, ...spawnOptions } = options;
  const p = spawnProcess(command, args, spawnOptions);
  const timer = Number.isFinite(timeoutMs)
    ? setTimeout(() => p.child.kill("SIGKILL"), timeoutMs)
    : undefined;
  const code = await p.exited;
  await p.closed;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** runProcess for steps that must succeed: any other exit rejects, with the command's output. */
export async function runChecked(
  command: string,
  args: readonly string[],
  options: ProcessOptions & { timeoutMs?: number } = {},
): Promise<Finished> {
  const r = await runProcess(command, args, options);
  if (r.code !== 0) {
    throw new Error(
      `${[command, ...args].join(" ")} exited with ${r.code}:\n${r.stdout}${r.stderr}`,
    );
  }
  return r;
}

/**
 * Starts a long-running command and resolves once `ready` says it is (checked every
 * `intervalMs`). A child that exits first, or is not ready within `timeoutMs`, fails the start
 * with its output, and is killed (the caller never gets a handle to stop it).
 */
export async function startProcess(
  command: string,
  args: readonly string[],
  options: ProcessOptions & {
    /** What the command is, for the error message. */
    what: string;
    ready: (p: RunningProcess) => boolean | Promise<boolean>;
    timeoutMs?: number;
    intervalMs?: number;
  },
): Promise<RunningProcess> {
  const { what, ready, timeoutMs = 60_000, intervalMs = 100, ...spawnOptions } = options;
  const p = spawnProcess(command, args, spawnOptions);
  let stopped = false;
  void p.exited.then(() => {
    stopped = true;
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (stopped) throw new Error(`${what} exited early:\n${p.output()}`);
      if (await ready(p)) return p;
      if (Date.now() > deadline) {
        throw new Error(`${what} did not start within ${timeoutMs / 1000} s:\n${p.output()}`);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  } catch (err) {
    await p.stop("SIGKILL");
    throw err;
  }
}

/** SIGKILLs every child in the collection that still runs, empties it and awaits the exits. */
export async function killAll(
  children: Set<Pick<RunningProcess, "stop">> | Pick<RunningProcess, "stop">[],
): Promise<void> {
  const left = [...children];
  if (Array.isArray(children)) children.length = 0;
  else children.clear();
  await Promise.all(left.map((c) => c.stop("SIGKILL")));
}

/** `promise`, or a rejection naming `what` if it takes more than `ms` (a bounded wait on a child). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` until it holds; throws naming `what` after `timeoutMs`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
