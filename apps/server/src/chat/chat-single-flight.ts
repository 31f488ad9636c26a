import type { ChatEvent, ChatOutcome } from "./chat-types.ts";

/**
 * Single flight for answers (in this process): identical questions asked at the same time share
 * one generation. The first caller (the leader) generates; a caller arriving meanwhile (a joiner)
 * gets the events sent so far, then the rest as they come, and the same outcome. The generation
 * is cancelled only when every participant has gone away, so a leader closing its tab does not
 * cut the answer its joiners are reading.
 */

interface Flight {
  events: ChatEvent[];
  listeners: Set<(e: ChatEvent) => void>;
  done: Promise<ChatOutcome>;
  participants: number;
  abort: AbortController;
}

export interface Joined {
  outcome: ChatOutcome;
  /** False for the caller that generated. */
  joined: boolean;
}

export function createSingleFlight() {
  const flights = new Map<string, Flight>();

  /** Leaves the flight when the caller's signal fires; the last one out aborts the generation. */
  function follow(flight: Flight, signal: AbortSignal | undefined): () => void {
    if (!signal) return () => {};
    const leave = () => {
      flight.participants--;
      if (flight.participants <= 0) flight.abort.abort();
    };
    if (signal.aborted) {
      leave();
      return () => {};
    }
    signal.addEventListener("abort", leave, { once: true });
    return () => signal.removeEventListener("abort", leave);
  }

  return {
    /** Flights under way (tests and metrics). */
    size: () => flights.size,

    /**
     * Runs `generate` under `key`, or joins the run already under way. `generate` gets the
     * flight's emit and its signal (aborted when every participant's `signal` has fired).
     */
    async run(
      key: string,
      emit: (e: ChatEvent) => void,
      signal: AbortSignal | undefined,
      generate: (emit: (e: ChatEvent) => void, signal: AbortSignal) => Promise<ChatOutcome>,
    ): Promise<Joined> {
      const running = flights.get(key);
      if (running) {
        running.participants++;
        const unfollow = follow(running, signal);
        for (const e of running.events) emit(e);
        running.listeners.add(emit);
        try {
          return { outcome: await running.done, joined: true };
        } finally {
          running.listeners.delete(emit);
          unfollow();
        }
      }
      const flight: Flight = {
        events: [],
        listeners: new Set(),
        done: undefined as unknown as Promise<ChatOutcome>,
        participants: 1,
        abort: new AbortController(),
      };
      const unfollow = follow(flight, signal);
      const send = (e: ChatEvent) => {
        flight.events.push(e);
        emit(e);
        for (const listener of flight.listeners) listener(e);
      };
      flight.done = (async () => {
        try {
          return await generate(send, flight.abort.signal);
        } finally {
          flights.delete(key);
          unfollow();
        }
      })();
      flights.set(key, flight);
      return { outcome: await flight.done, joined: false };
    },
  };
}
