import { type Command, InvalidArgumentError, Option } from "commander";
import { type Config, ConfigError, loadConfig } from "../config/config.ts";
import { reasonOf } from "./fail.ts";

/**
 * The configuration from the environment. The CLI is a composition root: the one place that hands
 * the environment to the config schema. An invalid environment is one line and exit code 2.
 */
export function cliConfig(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`engram: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** The flags every command that talks to a server takes. */
export interface ClientFlags {
  json?: boolean;
  url?: string;
}

/** Adds --json and --url to a command that calls a server. */
export function clientOptions(command: Command): Command {
  return command
    .option("--json", "print JSON instead of a table")
    .addOption(
      new Option("--url <url>", "server URL (default: ENGRAM_URL, else http://HOST:PORT)"),
    );
}

/**
 * Runs a command's work and prints its result: JSON with --json (or when the command has no
 * human form), else `human(result)`. A failure is one line on stderr and exit code 1.
 */
export async function run<T>(
  flags: { json?: boolean },
  work: () => Promise<T>,
  human?: (result: T) => string,
): Promise<void> {
  try {
    const result = await work();
    const text = flags.json || !human ? JSON.stringify(result, null, 2) : human(result);
    if (text !== "") process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  } catch (err) {
    process.stderr.write(`engram: ${reasonOf(err).split("\n")[0]}\n`);
    process.exitCode = 1;
  }
}

/** Parses an integer option within bounds; commander reports the message and exits 1. */
export function intOption(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    }
    return n;
  };
}

/** Parses a JSON object option (--metadata). */
export function jsonObjectOption(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('must be a JSON object, e.g. \'{"topic": "food"}\'');
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArgumentError('must be a JSON object, e.g. \'{"topic": "food"}\'');
  }
  return parsed as Record<string, unknown>;
}
