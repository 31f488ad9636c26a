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

  /**
   * Counts the caller in; it leaves when its signal fires or when the returned function is called
   * (it is done, or failed), whichever comes first. The last one out aborts the generation.
   */
  function follow(flight: Flight, signal: AbortSignal | undefined): () => void {
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      flight.participants--;
      if (flight.participants <= 0) flight.abort.abort();
    };
    flight.participants++;
    if (signal?.aborted) leave();
    signal?.addEventListener("abort", leave, { once: true });
    return () => {
      signal?.removeEventListener("abort", leave);
      leave();
    };
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
        const unfollow = follow(running, signal);
        try {
          for (const e of running.events) emit(e);
          running.listeners.add(emit);
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
        participants: 0,
        abort: new AbortController(),
      };
      const unfollow = follow(flight, signal);
      flight.listeners.add(emit);
      const send = (e: ChatEvent) => {
        flight.events.push(e);
        for (const listener of flight.listeners) {
          // A participant whose transport failed stops hearing; the others, and the generation,
          // go on (its route learns of the failure on its own, and its signal ends its share).
          try {
            listener(e);
          } catch {
            flight.listeners.delete(listener);
          }
        }
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
