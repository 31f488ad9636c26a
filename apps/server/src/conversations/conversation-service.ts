import type {
  ChatMessage,
  Conversation,
  ConversationWithMessages,
  FeedbackBody,
  ListConversationsResponse,
} from "@engram/contract";
import { decodeIdCursor, pageOf } from "../lib/cursor.ts";
import { notFound } from "../lib/errors.ts";
import { isId } from "../lib/ids.ts";
import { actorName, requireScope, type TenantContext } from "../tenancy/context.ts";
import { fromMicroUsd } from "../usage/llm-usage.ts";
import type { ConversationRow, ConversationStore, MessageRow } from "./conversation-store.ts";

/** Most messages GET /v1/conversations/{id} returns (the latest ones). */
const MESSAGES_MAX = 500;

function toConversation(row: ConversationRow): Conversation {
  return {
    id: row.id,
    agent_id: row.agent_id,
    user_id: row.user_id,
    message_count: row.message_count,
    usage: {
      tokens_in: Number(row.tokens_in),
      tokens_out: Number(row.tokens_out),
      cost_usd: fromMicroUsd(Number(row.cost_micro_usd)),
    },
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function toMessage(row: MessageRow): ChatMessage {
  return {
    id: row.id,
    role: row.role,
    text: row.text,
    citations: row.citations,
    mode: row.mode,
    cached: row.cached,
    terminated: row.terminated,
    usage:
      row.role === "assistant"
        ? {
            tokens_in: row.tokens_in,
            tokens_out: row.tokens_out,
            cost_usd: fromMicroUsd(Number(row.cost_micro_usd)),
          }
        : null,
    feedback:
      row.feedback_rating && row.feedback_at
        ? {
            rating: row.feedback_rating,
            comment: row.feedback_comment,
            created_at: row.feedback_at.toISOString(),
          }
        : null,
    created_at: row.created_at.toISOString(),
  };
}

/** Conversations of the key's project: listed, read with their messages, deleted, rated. */
export function createConversationService(store: ConversationStore) {
  return {
    async listConversations(
      ctx: TenantContext,
      query: {
        agent_id?: string | undefined;
        user_id?: string | undefined;
        limit?: number | undefined;
        cursor?: string | undefined;
      },
    ): Promise<ListConversationsResponse> {
      requireScope(ctx, "conversations:read");
      const before = decodeIdCursor(query.cursor, "cnv");
      const page = await store.listConversations(
        ctx.tenantId,
        ctx.projectId,
        { agentId: query.agent_id, userId: query.user_id },
        query.limit ?? 20,
        before,
      );
      return pageOf(page, toConversation);
    },

    async getConversation(ctx: TenantContext, id: string): Promise<ConversationWithMessages> {
      requireScope(ctx, "conversations:read");
      const found = isId("cnv", id)
        ? await store.getWithMessages(ctx.tenantId, ctx.projectId, id, MESSAGES_MAX)
        : undefined;
      if (!found) throw notFound("Conversation", id);
      return { ...toConversation(found.conversation), messages: found.messages.map(toMessage) };
    },

    async deleteConversation(ctx: TenantContext, id: string) {
      requireScope(ctx, "conversations:write");
      const gone = isId("cnv", id)
        ? await store.deleteConversation(ctx.tenantId, ctx.projectId, id, {
            actor: actorName(ctx.actor),
            action: "conversation.delete",
            details: { project_id: ctx.projectId },
          })
        : undefined;
      if (!gone) throw notFound("Conversation", id);
      return { id, deleted: true };
    },

    async setFeedback(ctx: TenantContext, messageId: string, input: FeedbackBody) {
      requireScope(ctx, "conversations:write");
      const row = isId("msg", messageId)
        ? await store.setFeedback(
            ctx.tenantId,
            ctx.projectId,
            messageId,
            input.rating,
            input.comment ?? null,
          )
        : undefined;
      if (!row) throw notFound("Message", messageId);
      return toMessage(row);
    },
  };
}
export type ConversationService = ReturnType<typeof createConversationService>;
