import { createHash } from "node:crypto";
import type { ChatCitation } from "@engram/contract";
import type { ChatConfig } from "../config/chat-config.ts";
import type { LlmConfig } from "../inference/create-engine.ts";
import { embeddingQuery } from "../search/query-text.ts";
import type { TenantContext } from "../tenancy/context.ts";
import type { CachedAnswer, ChatCacheStore } from "./chat-cache.ts";
import { extractiveAnswer } from "./chat-extractive.ts";
import { llmAnswer, promptOverCap } from "./chat-llm.ts";
import { chatPrompt } from "./chat-prompt.ts";
import { createSingleFlight } from "./chat-single-flight.ts";
import { findSources, type GetContext, type Sources } from "./chat-sources.ts";
import { type ChatEvent, type ChatOutcome, type ChatTurn, NO_USAGE } from "./chat-types.ts";

/**
 * The chat engine: answers one question of a visitor to an agent, streaming events through
 * `emit` and resolving with the outcome (docs/chat.md, ADR 0035). Transport-free: the HTTP,
 * SSE and WebSocket routes call `answer` and turn its events into theirs.
 *
 *   const chat = createChatEngine({ getContext, embedder, cache, llm, config, log });
 *   const outcome = await chat.answer(ctx, turn, (e) => send(e.event, e.data));
 *   await chat.invalidateKnowledge(tenantId, projectId); // a document became searchable or went
 *
 * `answer(ctx, turn, emit)`:
 * - emits `citations` once (possibly empty), then one or more `delta`s; never an empty answer.
 * - mode `extractive` without an LLM (`llm` undefined, the embedded default), or when the budget
 *   left cannot pay for the prompt, or when every model failed before answering: the relevant
 *   passages quoted with [n] markers; a fixed sentence when nothing relevant was found.
 * - mode `llm` otherwise: model = agent.model ?? plan.chat.primary ?? ENGRAM_LLM_MODEL, fallback =
 *   plan.chat.fallback ?? ENGRAM_LLM_FALLBACK_MODEL, tried in the same request while no delta was
 *   sent. A failure after deltas throws AppError service_unavailable (the route's `error` event).
 * - `terminated`: the running cost reached min(plan.chat.request_cost_ceiling_usd,
 *   turn.budgetLeftUsd); the usage is what was spent.
 * - `cached`: answered from the semantic cache, or joined to an identical question in flight
 *   (single flight); then usage is zero and `calls` empty (the spend is the first asker's).
 * - `calls`: every model call made (failed ones too), purpose "chat", for llm_calls.
 * - `ttftMs`: from the call to the first delta; `fallbackUsed`: the primary failed.
 *
 * Caching applies to standalone questions (no history) when plan.chat.cache_ttl_seconds > 0.
 * Answers cut by the budget, degraded to extractive by a model failure, or failed, are not cached.
 */

export type { ChatAgent, ChatEvent, ChatOutcome, ChatTurn } from "./chat-types.ts";

export interface ChatEngineDeps {
  /** The context verb (context-service.ts getContext), with its internal narrowing. */
  getContext: GetContext;
  /** The server's query embedder (withQueryCache): the cache shares its work with retrieval. */
  embedder: { readonly modelId: string; embedQuery(text: string): Promise<Float32Array> };
  /** createLocalChatCache (embedded) or createRedisChatCache (cluster). */
  cache: ChatCacheStore;
  /** ENGRAM_LLM_*: undefined means extractive answers only. */
  llm: LlmConfig | undefined;
  config: ChatConfig;
  log?: { warn(obj: object, msg: string): void } | undefined;
}

/**
 * Lower case, whitespace collapsed: what makes two questions "identical" for single flight, and
 * the text the cache embeds (the model tells "ITEM" from "item"; a visitor means the same). When
 * the question is already in this form, retrieval's query embedding is the same text, and the
 * query cache computes it once.
 */
const normalise = (message: string) => message.toLowerCase().replace(/\s+/gu, " ").trim();

const hash = (s: string) => createHash("sha256").update(s).digest("base64url").slice(0, 22);

export function createChatEngine(deps: ChatEngineDeps) {
  const flights = createSingleFlight();

  /** The events of an answer already written: citations, then a delta per sentence. */
  function replay(answer: CachedAnswer, emit: (e: ChatEvent) => void) {
    emit({ event: "citations", data: { items: answer.citations } });
    for (const text of answer.text.match(/[^\n.!?]*(?:[.!?]+|\n+|$)/gu) ?? [answer.text]) {
      if (text !== "") emit({ event: "delta", data: { text } });
    }
  }

  /** Generates an answer from sources (no cache, no single flight). */
  async function generate(
    ctx: TenantContext,
    turn: ChatTurn,
    sources: Sources,
    emit: (e: ChatEvent) => void,
    signal: AbortSignal | undefined,
  ): Promise<Omit<ChatOutcome, "ttftMs" | "cached"> & { cacheable: boolean }> {
    const citations: ChatCitation[] = sources.knowledge.map((s) => s.citation);
    emit({ event: "citations", data: { items: citations } });
    const extractive = (calls: ChatOutcome["calls"], fallbackUsed: boolean, cacheable: boolean) => {
      const deltas = extractiveAnswer(sources);
      for (const text of deltas) emit({ event: "delta", data: { text } });
      return {
        text: deltas.join(""),
        citations,
        mode: "extractive" as const,
        terminated: false,
        usage: NO_USAGE,
        calls,
        fallbackUsed,
        cacheable,
      };
    };
    const llm = deps.llm;
    if (!llm) return extractive([], false, true);
    const chat = ctx.plan.chat;
    const primary = turn.agent.model ?? chat.primary ?? llm.model;
    const fallback = chat.fallback ?? llm.fallbackModel;
    const models = fallback && fallback !== primary ? [primary, fallback] : [primary];
    const capUsd = Math.min(
      chat.request_cost_ceiling_usd ?? Number.POSITIVE_INFINITY,
      turn.budgetLeftUsd ?? Number.POSITIVE_INFINITY,
    );
    const messages = chatPrompt(turn.agent.instructions, sources, turn.history, turn.message);
    // No money left for even the question: the LLM is not asked (nothing to cut), the answer is
    // extractive, and not cached (the next period's answer may differ).
    if (capUsd <= 0 || promptOverCap(llm.prices, primary, messages, capUsd)) {
      return extractive([], false, false);
    }
    const answer = await llmAnswer({
      endpoint: {
        baseUrl: llm.baseUrl,
        apiKey: llm.apiKey,
        firstTokenMs: deps.config.firstTokenTimeoutMs,
        stallMs: deps.config.stallTimeoutMs,
      },
      prices: llm.prices,
      models,
      maxTokens: chat.max_tokens,
      capUsd,
      messages,
      signal,
      emit: (text) => emit({ event: "delta", data: { text } }),
      log: deps.log,
    });
    if (!answer.ok) {
      deps.log?.warn({ error: answer.error }, "no chat model answered; answering extractively");
      return extractive(answer.calls, answer.fallbackUsed, false);
    }
    return {
      text: answer.text,
      citations,
      mode: "llm",
      terminated: answer.terminated,
      usage: answer.usage,
      calls: answer.calls,
      fallbackUsed: answer.fallbackUsed,
      cacheable: !answer.terminated,
    };
  }

  return {
    /** Answers one question, streaming its events through `emit` (see the module comment). */
    async answer(
      ctx: TenantContext,
      turn: ChatTurn,
      emit: (e: ChatEvent) => void,
    ): Promise<ChatOutcome> {
      const started = performance.now();
      let ttftMs: number | null = null;
      const send = (e: ChatEvent) => {
        if (e.event === "delta" && ttftMs === null) {
          ttftMs = Math.round(performance.now() - started);
        }
        emit(e);
      };
      const { agent } = turn;
      const ttlS = ctx.plan.chat.cache_ttl_seconds;
      const standalone = turn.history.length === 0;
      const cacheable = standalone && ttlS > 0 && deps.config.cacheSize > 0;
      const generation = cacheable
        ? await deps.cache.generation(ctx.tenantId, ctx.projectId)
        : undefined;
      // Who writes the answers: a model's answers and extractive ones are not interchangeable.
      const writer = deps.llm
        ? `llm:${agent.model ?? ctx.plan.chat.primary ?? deps.llm.model}`
        : "extractive";
      const base = [
        ctx.tenantId,
        ctx.projectId,
        agent.id,
        `v${agent.version}`,
        `g${generation}`,
        writer,
      ];
      /** The key space of answers for a visitor (personal: they used the visitor's memories). */
      const spaceOf = (personal: boolean) =>
        [deps.embedder.modelId, ...base, personal ? `u:${hash(turn.userId ?? "")}` : "-"].join("|");
      let vector: Float32Array | undefined;
      /**
       * The question's cache vector (of its normalised text). On a miss retrieval embeds the
       * question as asked: both are asked for at once, so the embedder batches them and the query
       * cache hands retrieval its vector, instead of a second embedding after the lookup.
       */
      const cacheVector = async () => {
        const normalised = embeddingQuery(normalise(turn.message));
        const asked = embeddingQuery(turn.message);
        const [v] = await Promise.all([
          deps.embedder.embedQuery(normalised),
          asked === normalised ? undefined : deps.embedder.embedQuery(asked).catch(() => undefined),
        ]);
        return v;
      };
      const lookup = async (space: string): Promise<ChatOutcome | undefined> => {
        if (generation === undefined) return undefined;
        vector ??= await cacheVector();
        const hit = await deps.cache.find(space, vector, deps.config.cacheSimilarity);
        if (!hit) return undefined;
        replay(hit, send);
        return {
          ...hit,
          cached: true,
          terminated: false,
          usage: NO_USAGE,
          calls: [],
          fallbackUsed: false,
          ttftMs,
        };
      };
      const store = async (space: string, answer: CachedAnswer) => {
        if (generation === undefined) return;
        vector ??= await cacheVector();
        await deps.cache.put(space, vector, answer, ttlS);
      };
      /** Generates under single flight (standalone questions only), caching what may be. */
      const produce = async (space: string | undefined, sources: Sources | undefined) => {
        const run = async (out: (e: ChatEvent) => void, signal: AbortSignal | undefined) => {
          const found =
            sources ?? (await findSources(deps.getContext, ctx, agent, turn.message, turn.userId));
          const result = await generate(ctx, turn, found, out, signal);
          const { cacheable: keep, ...outcome } = result;
          if (keep && space !== undefined) await store(space, outcome);
          return { ...outcome, cached: false, ttftMs: null };
        };
        if (space === undefined) return { ...(await run(send, turn.signal)), ttftMs };
        const { outcome, joined } = await flights.run(
          `${space}|${normalise(turn.message)}`,
          send,
          turn.signal,
          run,
        );
        return joined
          ? {
              ...outcome,
              cached: true,
              usage: NO_USAGE,
              calls: [],
              fallbackUsed: false,
              ttftMs,
            }
          : { ...outcome, ttftMs };
      };

      if (!cacheable) return produce(undefined, undefined);
      const mayBePersonal = agent.memory.read && turn.userId !== undefined;
      if (!mayBePersonal) {
        const space = spaceOf(false);
        return (await lookup(space)) ?? produce(space, undefined);
      }
      // Whether the answer is personal depends on whether the visitor has memories relevant to
      // the question: retrieve first, then look in the visitor's own key space or the shared one.
      const sources = await findSources(deps.getContext, ctx, agent, turn.message, turn.userId);
      const space = spaceOf(sources.memories.length > 0);
      return (await lookup(space)) ?? produce(space, sources);
    },

    /** Makes every cached answer of the project unreachable (its knowledge changed). */
    async invalidateKnowledge(tenantId: string, projectId: string): Promise<void> {
      await deps.cache.bump(tenantId, projectId);
    },
  };
}
export type ChatEngine = ReturnType<typeof createChatEngine>;
