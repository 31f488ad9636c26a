import type { ChatBody, ChatDone, ChatResponse } from "@engram/contract";
import type { AgentService } from "../agents/agent-service.ts";
import type { AgentRow } from "../agents/agent-store.ts";
import type { ConversationStore } from "../conversations/conversation-store.ts";
import type { LlmCall } from "../inference/engine.ts";
import { AppError, notFound } from "../lib/errors.ts";
import { isId, newId } from "../lib/ids.ts";
import { requireScope, type TenantContext } from "../tenancy/context.ts";
import { meterOf } from "../usage/metering.ts";
import type { createChatEngine } from "./chat-engine.ts";
import type { ChatOutcome, ChatEvent as EngineEvent } from "./chat-types.ts";

/** A visitor id as the widget makes them: 128 random bits, base64url. */
const VISITOR_ID = /^v_[A-Za-z0-9_-]{22}$/;
/** Messages of a conversation the answer sees (the latest ones). */
const HISTORY_MESSAGES = 10;

/** Every event a chat streams, in order: conversation, citations, delta…, done (or error). */
export type ChatEvent =
  | { event: "conversation"; data: { conversation_id: string } }
  | EngineEvent
  | { event: "done"; data: ChatDone };

/** The engine as the chat service uses it (chat-engine.ts). */
type ChatEngine = Pick<ReturnType<typeof createChatEngine>, "answer">;

export interface ChatServiceDeps {
  agents: AgentService;
  conversations: ConversationStore;
  engine: ChatEngine;
  /** The period's LLM budget left for the tenant in USD (null: unlimited). */
  budgetLeft: (ctx: TenantContext) => Promise<number | null>;
  /** Feeds the visitor's message to inference (memory.write), asynchronously; never throws. */
  remember?: ((ctx: TenantContext, userId: string, message: string) => Promise<void>) | undefined;
  /** Called once per finished answer (metrics). */
  observe?: ((outcome: ChatOutcome) => void) | undefined;
}

/** The end user a chat is with: a visitor's id is namespaced, an API key's is taken as given. */
function userOf(ctx: TenantContext, body: ChatBody): string | null {
  if (ctx.actor.kind !== "visitor") return body.user_id ?? null;
  if (body.user_id === undefined || !VISITOR_ID.test(body.user_id)) {
    throw new AppError(
      "validation_failed",
      "With a publishable key, user_id must be the visitor id the widget made (v_ and 22 base64url characters)",
      "user_id",
    );
  }
  return `visitor:${body.user_id}`;
}

/** Chat with an agent: one turn of a conversation, streamed as events, recorded when it ends. */
export function createChatService(deps: ChatServiceDeps) {
  /** The conversation the turn continues (with its latest messages), or a new one. */
  async function conversationFor(
    ctx: TenantContext,
    agent: AgentRow,
    id: string | undefined,
    userId: string | null,
  ) {
    if (id === undefined) return { id: newId("cnv"), create: true, history: [] };
    const found = isId("cnv", id)
      ? await deps.conversations.getWithMessages(ctx.tenantId, ctx.projectId, id, HISTORY_MESSAGES)
      : undefined;
    // Another agent's, another visitor's: not found, whoever asks.
    if (
      !found ||
      found.conversation.agent_id !== agent.id ||
      (ctx.actor.kind === "visitor" && found.conversation.user_id !== userId)
    ) {
      throw notFound("Conversation", id);
    }
    if (userId !== null && found.conversation.user_id !== userId) {
      throw new AppError(
        "validation_failed",
        "This conversation is with another user_id",
        "user_id",
      );
    }
    return {
      id,
      create: false,
      userId: found.conversation.user_id,
      history: found.messages.map((m) => ({ role: m.role, text: m.text })),
    };
  }

  return {
    /**
     * Answers a message. Everything that can refuse the request (scopes, the agent, the
     * conversation, the input) is checked before the first event, so a refusal is a plain
     * problem; a failure after it reaches `emit` as the thrown error (the route sends `error`).
     */
    async chat(
      ctx: TenantContext,
      agentId: string,
      body: ChatBody,
      emit: (e: ChatEvent) => void,
      signal?: AbortSignal,
    ): Promise<ChatResponse> {
      requireScope(ctx, "agents:read");
      requireScope(ctx, "conversations:write");
      const agent = await deps.agents.agentFor(ctx, agentId);
      const requestedUser = userOf(ctx, body);
      const conversation = await conversationFor(ctx, agent, body.conversation_id, requestedUser);
      const userId = requestedUser ?? conversation.userId ?? null;
      const budgetLeftUsd = await deps.budgetLeft(ctx);

      emit({ event: "conversation", data: { conversation_id: conversation.id } });
      const meter = meterOf(ctx);
      const userMessageId = newId("msg");
      let outcome: ChatOutcome;
      try {
        outcome = await deps.engine.answer(
          ctx,
          {
            agent: {
              id: agent.id,
              version: agent.version,
              instructions: agent.instructions,
              knowledge: agent.knowledge,
              memory: agent.memory,
              model: agent.model,
            },
            message: body.message,
            userId: userId ?? undefined,
            history: conversation.history,
            budgetLeftUsd,
            signal,
          },
          emit,
        );
      } catch (err) {
        // The question is kept, and whatever the failed calls cost is counted.
        const calls = (err as { calls?: LlmCall[] }).calls ?? [];
        await deps.conversations.recordTurn(meter, ctx.projectId, {
          conversationId: conversation.id,
          create: conversation.create ? { agentId: agent.id, userId } : undefined,
          userMessageId,
          message: body.message,
          calls,
        });
        throw err;
      }
      const done: ChatDone = {
        message_id: newId("msg"),
        mode: outcome.mode,
        cached: outcome.cached,
        terminated: outcome.terminated,
        usage: outcome.usage,
      };
      await deps.conversations.recordTurn(meter, ctx.projectId, {
        conversationId: conversation.id,
        create: conversation.create ? { agentId: agent.id, userId } : undefined,
        userMessageId,
        message: body.message,
        answer: {
          id: done.message_id,
          text: outcome.text,
          citations: outcome.citations,
          ...done,
          fallback: outcome.fallbackUsed,
          ttftMs: outcome.ttftMs,
        },
        calls: outcome.calls,
      });
      deps.observe?.(outcome);
      if (agent.memory.write && userId !== null && deps.remember) {
        await deps.remember(ctx, userId, body.message);
      }
      emit({ event: "done", data: done });
      return {
        conversation_id: conversation.id,
        text: outcome.text,
        citations: outcome.citations,
        ...done,
      };
    },
  };
}
export type ChatService = ReturnType<typeof createChatService>;
