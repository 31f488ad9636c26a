/**
 * Calls `stop` on the first SIGTERM or SIGINT. `npm start` forwards the terminal's Ctrl-C to the
 * server, which also gets it from the terminal, so one keystroke arrives twice: a repeat within a
 * second is that echo and is ignored; a later one (a second Ctrl-C on a drain that takes too
 * long) exits at once, which loses nothing acknowledged (every acknowledged write has committed).
 */
export function onStopSignals(stop: (signal: NodeJS.Signals) => void): void {
  let first: number | undefined;
  const handle = (signal: NodeJS.Signals) => {
    if (first === undefined) {
      first = Date.now();
      stop(signal);
    } else if (Date.now() - first > 1000) {
      process.exit(signal === "SIGINT" ? 130 : 143);
    }
  };
  process.on("SIGTERM", handle);
  process.on("SIGINT", handle);
}
