import { Presets, SingleBar } from "cli-progress";

/** How often a progress line is printed when stderr is not a terminal. */
const PLAIN_INTERVAL_MS = 1_000;

export interface Progress {
  /** `done` items so far (of the total), `fresh` of them in this run (for the rate). */
  update(done: number, fresh: number): void;
  stop(): void;
}

const seconds = (s: number) =>
  !Number.isFinite(s) ? "?" : s < 90 ? `${Math.ceil(s)} s` : `${Math.ceil(s / 60)} min`;

/**
 * Count, rate and ETA on stderr: a bar when stderr is a terminal, else a plain line at most once
 * a second (logs and CI keep a readable record instead of carriage returns). stdout stays the
 * command's result, so `--json` output can be piped.
 */
export function createProgress(label: string, total: number, unit: string, start = 0): Progress {
  const started = Date.now();
  const rateOf = (fresh: number) => fresh / Math.max((Date.now() - started) / 1000, 0.001);
  if (process.stderr.isTTY) {
    const bar = new SingleBar(
      {
        stream: process.stderr,
        format: `${label} [{bar}] {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted}`,
        etaBuffer: 50,
        hideCursor: true,
      },
      Presets.shades_classic,
    );
    bar.start(total, start, { rate: "0" });
    return {
      update: (done, fresh) => bar.update(done, { rate: rateOf(fresh).toFixed(0) }),
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  let state = { done: start, fresh: 0 };
  let printed = -1;
  const print = () => {
    if (printed === state.done) return;
    printed = state.done;
    const rate = rateOf(state.fresh);
    const eta = rate > 0 ? (total - state.done) / rate : Number.POSITIVE_INFINITY;
    process.stderr.write(
      `${label}: ${state.done}/${total} ${unit} (${rate.toFixed(0)}/s, ETA ${seconds(eta)})\n`,
    );
  };
  return {
    update(done, fresh) {
      state = { done, fresh };
      if (Date.now() - last < PLAIN_INTERVAL_MS) return;
      last = Date.now();
      print();
    },
    stop: print,
  };
}
