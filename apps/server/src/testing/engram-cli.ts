import { type Finished, type RunningProcess, runProcess, spawnProcess } from "./run-process.ts";
import { bareEngramEnv, ENGRAM_CLI } from "./test-server.ts";

/**
 * The environment a user's shell gives `engram`: this process's without Engram's variables (nor
 * PORT and HOST), then `vars` (undefined: left unset).
 */
export function cliEnv(vars: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const set: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) set[k] = v;
  const env = bareEngramEnv(set);
  if (vars.PORT === undefined) delete env.PORT;
  if (vars.HOST === undefined) delete env.HOST;
  return env;
}

/** Runs `engram <args>` in a child process to completion. */
export function runEngram(
  args: readonly string[],
  vars: Record<string, string | undefined>,
): Promise<Finished> {
  return runProcess(process.execPath, [...ENGRAM_CLI, ...args], { env: cliEnv(vars) });
}

/** Starts `engram <args>` in a child process without waiting (to interrupt it). */
export function spawnEngramCommand(
  args: readonly string[],
  vars: Record<string, string | undefined>,
): RunningProcess {
  return spawnProcess(process.execPath, [...ENGRAM_CLI, ...args], { env: cliEnv(vars) });
}
