import type { ChatCitation, ChatMode, ChatUsage } from "@engram/contract";
import type { LlmCall } from "../inference/engine.ts";

/** The part of an agent an answer depends on (its `version` changes with any of it). */
export interface ChatAgent {
  id: string;
  /** Bumped by every change of the agent: cached answers are keyed by it. */
  version: number;
  instructions: string;
  knowledge: { collections: readonly string[] | null };
  memory: { read: boolean; write: boolean };
  /** Replaces the plan's primary model; null: the plan's, else ENGRAM_LLM_MODEL. */
  model: string | null;
}

/** One earlier message of the conversation, oldest first. */
export interface ChatHistoryMessage {
  role: "user" | "assistant";
  text: string;
}

/** One question to answer. */
export interface ChatTurn {
  agent: ChatAgent;
  message: string;
  /** The visitor: their memories are read (memory.read), and personal answers cached apart. */
  userId?: string | undefined;
  /** Earlier messages, oldest first; a question with history is never cached nor shared. */
  history: ChatHistoryMessage[];
  /** The tenant's LLM budget left this period, in US dollars; null: unlimited. */
  budgetLeftUsd: number | null;
  /** Ends the answer (the visitor went away): the model's request is aborted. */
  signal?: AbortSignal | undefined;
}

/** What the engine streams, in this order: citations once, then deltas. */
export type ChatEvent =
  | { event: "citations"; data: { items: ChatCitation[] } }
  | { event: "delta"; data: { text: string } };

/** How an answer ended, for the `done` event, the stored message and the metrics. */
export interface ChatOutcome {
  /** The deltas joined. */
  text: string;
  citations: ChatCitation[];
  mode: ChatMode;
  /** Served from the semantic cache, or joined to an identical question in flight. */
  cached: boolean;
  /** Cut at the request's cost ceiling or the tenant's budget. */
  terminated: boolean;
  /** What this answer spent (zeros for cached and extractive answers). */
  usage: ChatUsage;
  /** The model calls made, failed ones included: for llm_calls (purpose "chat"). */
  calls: LlmCall[];
  /** The primary model failed and the fallback answered (or was tried). */
  fallbackUsed: boolean;
  /** Milliseconds from the question to the first delta; null when none was sent. */
  ttftMs: number | null;
}

export const NO_USAGE: ChatUsage = { tokens_in: 0, tokens_out: 0, cost_usd: 0 };
