/**
 * One line saying why something failed. Node's network errors can carry an empty message (an
 * AggregateError when every address of a host refused) or keep the reason in `cause` (`fetch
 * failed`, the database adapter's 503), so those are looked into.
 */
export function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const { code, cause } = err as NodeJS.ErrnoException & { cause?: unknown };
  if (err instanceof AggregateError && err.errors.length > 0) return reasonOf(err.errors[0]);
  if (err.message === "fetch failed" && cause) return reasonOf(cause);
  const own = err.message || code || err.name;
  // A wrapped error (the database adapter's 503 for clients) keeps the operator's detail in cause.
  return cause instanceof Error ? `${own} (${reasonOf(cause)})` : own;
}

/**
 * Starts a long-running command (`serve`, `worker`). A failure to start (a database that refuses
 * the role or password, a stale schema, a port in use) is one line on stderr and exit code 1,
 * not a stack trace: these are the operator's to fix, and the message says what.
 */
export async function startOrExit<T>(command: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    process.stderr.write(`engram ${command}: ${reasonOf(err).split("\n")[0]}\n`);
    process.exit(1);
  }
}
