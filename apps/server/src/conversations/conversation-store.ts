import type { ChatCitation, ChatMode, ChatUsage } from "@engram/contract";
import type { Database, Queryable } from "../db/database.ts";
import type { LlmCall } from "../inference/engine.ts";
import { type AuditEntry, appendAudit } from "../tenancy/audit.ts";
import { recordLlmCalls, toMicroUsd } from "../usage/llm-usage.ts";
import type { MeterContext } from "../usage/metering.ts";

export interface ConversationRow {
  id: string;
  agent_id: string;
  user_id: string | null;
  message_count: number;
  tokens_in: string;
  tokens_out: string;
  cost_micro_usd: string;
  created_at: Date;
  updated_at: Date;
}

export interface MessageRow {
  id: string;
  role: "user" | "assistant";
  text: string;
  citations: ChatCitation[];
  mode: ChatMode | null;
  cached: boolean;
  terminated: boolean;
  tokens_in: number;
  tokens_out: number;
  cost_micro_usd: string;
  feedback_rating: "up" | "down" | null;
  feedback_comment: string | null;
  feedback_at: Date | null;
  created_at: Date;
}

/** One finished turn: the visitor's message and the answer, with what the answer cost. */
export interface Turn {
  conversationId: string;
  /** Set when the turn starts a conversation: it is created with the turn. */
  create?: { agentId: string; userId: string | null } | undefined;
  userMessageId: string;
  message: string;
  answer?:
    | {
        id: string;
        text: string;
        citations: ChatCitation[];
        mode: ChatMode;
        cached: boolean;
        terminated: boolean;
        usage: ChatUsage;
        fallback: boolean;
        ttftMs: number | null;
      }
    | undefined;
  calls: readonly LlmCall[];
}

const CONVERSATION_COLUMNS = `id, agent_id, user_id, message_count, tokens_in, tokens_out,
  cost_micro_usd, created_at, updated_at`;
const MESSAGE_COLUMNS = `id, role, text, citations, mode, cached, terminated, tokens_in, tokens_out,
  cost_micro_usd, feedback_rating, feedback_comment, feedback_at, created_at`;

async function insertMessage(
  tx: Queryable,
  tenantId: string,
  conversationId: string,
  m: {
    id: string;
    role: "user" | "assistant";
    text: string;
    citations?: ChatCitation[];
    mode?: ChatMode | null;
    cached?: boolean;
    terminated?: boolean;
    usage?: ChatUsage;
    fallback?: boolean;
    ttftMs?: number | null;
  },
) {
  await tx.query(
    `INSERT INTO chat_messages (id, tenant_id, conversation_id, role, text, citations, mode,
       cached, terminated, tokens_in, tokens_out, cost_micro_usd, fallback, ttft_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [
      m.id,
      tenantId,
      conversationId,
      m.role,
      m.text,
      JSON.stringify(m.citations ?? []),
      m.mode ?? null,
      m.cached ?? false,
      m.terminated ?? false,
      m.usage?.tokens_in ?? 0,
      m.usage?.tokens_out ?? 0,
      toMicroUsd(m.usage?.cost_usd ?? 0),
      m.fallback ?? false,
      m.ttftMs === undefined || m.ttftMs === null ? null : Math.round(m.ttftMs),
    ],
  );
}

/** SQL for conversations and their messages. */
export function createConversationStore(db: Database) {
  return {
    /** The conversation with its messages, oldest first (at most `limit` of the latest). */
    getWithMessages: (tenantId: string, projectId: string, id: string, limit: number) =>
      db.withTenant(tenantId, async (tx) => {
        const [row] = await tx.query<ConversationRow>(
          `SELECT ${CONVERSATION_COLUMNS} FROM conversations
           WHERE tenant_id = $1 AND project_id = $2 AND id = $3`,
          [tenantId, projectId, id],
        );
        if (!row) return undefined;
        const messages = await tx.query<MessageRow>(
          `SELECT * FROM (SELECT ${MESSAGE_COLUMNS} FROM chat_messages
             WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY id DESC LIMIT $3) m
           ORDER BY id`,
          [tenantId, id, limit],
        );
        return { conversation: row, messages };
      }),

    listConversations: (
      tenantId: string,
      projectId: string,
      filter: { agentId?: string | undefined; userId?: string | undefined },
      limit: number,
      before: string | undefined,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        const rows = await tx.query<ConversationRow>(
          `SELECT ${CONVERSATION_COLUMNS} FROM conversations
           WHERE tenant_id = $1 AND project_id = $2
             AND ($3::text IS NULL OR agent_id = $3) AND ($4::text IS NULL OR user_id = $4)
             AND ($5::text IS NULL OR id < $5)
           ORDER BY id DESC LIMIT $6`,
          [
            tenantId,
            projectId,
            filter.agentId ?? null,
            filter.userId ?? null,
            before ?? null,
            limit + 1,
          ],
        );
        return { rows: rows.slice(0, limit), more: rows.length > limit };
      }),

    /**
     * Records a turn in one transaction: the conversation (when it starts here), the visitor's
     * message, the answer, the conversation's counters, and the LLM calls against the tenant's
     * spend (also when the answer failed midway: the calls were made).
     */
    recordTurn: (meter: MeterContext, projectId: string, turn: Turn) =>
      db.withTenant(meter.tenantId, async (tx) => {
        if (turn.create) {
          await tx.query(
            `INSERT INTO conversations (id, tenant_id, project_id, agent_id, user_id)
             VALUES ($1, $2, $3, $4, $5)`,
            [
              turn.conversationId,
              meter.tenantId,
              projectId,
              turn.create.agentId,
              turn.create.userId,
            ],
          );
        }
        await insertMessage(tx, meter.tenantId, turn.conversationId, {
          id: turn.userMessageId,
          role: "user",
          text: turn.message,
        });
        const a = turn.answer;
        if (a) {
          await insertMessage(tx, meter.tenantId, turn.conversationId, {
            id: a.id,
            role: "assistant",
            text: a.text,
            citations: a.citations,
            mode: a.mode,
            cached: a.cached,
            terminated: a.terminated,
            usage: a.usage,
            fallback: a.fallback,
            ttftMs: a.ttftMs,
          });
        }
        await tx.query(
          `UPDATE conversations SET message_count = message_count + $3,
             tokens_in = tokens_in + $4, tokens_out = tokens_out + $5,
             cost_micro_usd = cost_micro_usd + $6, updated_at = now()
           WHERE tenant_id = $1 AND id = $2`,
          [
            meter.tenantId,
            turn.conversationId,
            a ? 2 : 1,
            a?.usage.tokens_in ?? 0,
            a?.usage.tokens_out ?? 0,
            toMicroUsd(a?.usage.cost_usd ?? 0),
          ],
        );
        await recordLlmCalls(tx, meter, "agent.chat", turn.calls);
      }),

    deleteConversation: (tenantId: string, projectId: string, id: string, audit: AuditEntry) =>
      db.withTenant(tenantId, async (tx) => {
        const [gone] = await tx.query<{ message_count: number }>(
          `DELETE FROM conversations WHERE tenant_id = $1 AND project_id = $2 AND id = $3
           RETURNING message_count`,
          [tenantId, projectId, id],
        );
        if (!gone) return undefined;
        await appendAudit(tx, tenantId, {
          ...audit,
          targetId: id,
          details: { ...audit.details, messages: gone.message_count },
        });
        return gone;
      }),

    /** Sets a message's feedback (the last one given counts); undefined when not in the project. */
    setFeedback: (
      tenantId: string,
      projectId: string,
      messageId: string,
      rating: "up" | "down",
      comment: string | null,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        const [row] = await tx.query<MessageRow>(
          `UPDATE chat_messages m SET feedback_rating = $4, feedback_comment = $5,
             feedback_at = now()
           FROM conversations c
           WHERE m.tenant_id = $1 AND m.id = $3 AND m.role = 'assistant' AND c.tenant_id = $1 AND c.id = m.conversation_id
             AND c.project_id = $2
           RETURNING m.id, m.role, m.text, m.citations, m.mode, m.cached, m.terminated,
             m.tokens_in, m.tokens_out, m.cost_micro_usd, m.feedback_rating, m.feedback_comment,
             m.feedback_at, m.created_at`,
          [tenantId, projectId, messageId, rating, comment],
        );
        return row;
      }),
  };
}
export type ConversationStore = ReturnType<typeof createConversationStore>;
