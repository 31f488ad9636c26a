import { type SpawnOptions, spawn } from "node:child_process";

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion, its stdout and stderr collected. A command still running after
 * `timeoutMs` is killed (so a hung child fails its test instead of holding the run).
 */
export function runProcess(
  command: string,
  args: string[],
  options: Omit<SpawnOptions, "stdio"> & { timeoutMs?: number } = {},
): Promise<Finished> {
  const { timeoutMs = 120_000, ...spawnOptions } = options;
  const child = spawn(command, args, { ...spawnOptions, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}
