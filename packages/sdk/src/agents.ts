import type {
  Agent,
  ChatBody,
  ChatCitation,
  ChatDone,
  ChatMessage,
  ChatResponse,
  ConversationWithMessages,
  CreateAgentBody,
  FeedbackBody,
  ListAgentsResponse,
  ListConversationsResponse,
  Problem,
  UpdateAgentBody,
} from "@engram/contract";
import { createParser } from "eventsource-parser";
import { allPages, type ClientOptions, errorOf, fetchWithRetries, request } from "./http.ts";

const enc = encodeURIComponent;

/** One event of a streamed chat answer, in order: conversation, citations, delta…, done | error. */
export type ChatStreamEvent =
  | { event: "conversation"; data: { conversation_id: string } }
  | { event: "citations"; data: { items: ChatCitation[] } }
  | { event: "delta"; data: { text: string } }
  | { event: "done"; data: ChatDone }
  | { event: "error"; data: Problem };

/** Agents, their chat and their conversations, for a tenant API key. */
export class AgentsClient {
  constructor(private readonly opts: ClientOptions) {}

  /** POST /v1/agents (agents:write; the plan bounds how many) */
  createAgent(body: CreateAgentBody) {
    return request<Agent>(this.opts, "POST", "v1/agents", { body });
  }

  /** GET /v1/agents (agents:read) */
  listAgents(query: { limit?: number; cursor?: string } = {}) {
    return request<ListAgentsResponse>(this.opts, "GET", "v1/agents", { query });
  }

  /** Every agent of the project, following cursors. */
  listAllAgents(query: { limit?: number } = {}) {
    return allPages((cursor) => this.listAgents({ ...query, ...cursor }));
  }

  /** GET /v1/agents/{id} (agents:read) */
  getAgent(id: string) {
    return request<Agent>(this.opts, "GET", `v1/agents/${enc(id)}`);
  }

  /** PATCH /v1/agents/{id} (agents:write) */
  updateAgent(id: string, body: UpdateAgentBody) {
    return request<Agent>(this.opts, "PATCH", `v1/agents/${enc(id)}`, { body });
  }

  /** DELETE /v1/agents/{id} — with its conversations (agents:write) */
  deleteAgent(id: string) {
    return request<{ id: string; deleted: boolean; conversations: number }>(
      this.opts,
      "DELETE",
      `v1/agents/${enc(id)}`,
    );
  }

  /** POST /v1/agents/{id}/chat with `stream: false`: the whole answer as one object. */
  chat(id: string, body: Omit<ChatBody, "stream">) {
    return request<ChatResponse>(this.opts, "POST", `v1/agents/${enc(id)}/chat`, {
      body: { ...body, stream: false },
    });
  }

  /**
   * POST /v1/agents/{id}/chat, streamed: yields each event as it arrives. A refusal before the
   * stream (404, 402, 429…) throws EngramError; a failure after it arrives as an `error` event.
   */
  async *chatStream(
    id: string,
    body: Omit<ChatBody, "stream">,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<ChatStreamEvent> {
    const url = new URL(
      `v1/agents/${enc(id)}/chat`,
      this.opts.baseUrl.endsWith("/") ? this.opts.baseUrl : `${this.opts.baseUrl}/`,
    );
    const res = await fetchWithRetries(this.opts, url, () => ({
      method: "POST",
      headers: {
        authorization: `Bearer ${this.opts.token}`,
        "content-type": "application/json",
        accept: "text/event-stream",
      },
      body: JSON.stringify({ ...body, stream: true }),
      ...(options.signal ? { signal: options.signal } : {}),
    }));
    if (!res.ok || !res.body) {
      const text = await res.text();
      throw errorOf(res, text ? JSON.parse(text) : undefined);
    }
    const queue: ChatStreamEvent[] = [];
    const parser = createParser({
      onEvent: (e) => queue.push({ event: e.event, data: JSON.parse(e.data) } as ChatStreamEvent),
    });
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      while (queue.length > 0) yield queue.shift() as ChatStreamEvent;
    }
  }

  /** GET /v1/conversations (conversations:read), newest first */
  listConversations(
    query: { agent_id?: string; user_id?: string; limit?: number; cursor?: string } = {},
  ) {
    return request<ListConversationsResponse>(this.opts, "GET", "v1/conversations", { query });
  }

  /** Every conversation matching the query, following cursors. */
  listAllConversations(query: { agent_id?: string; user_id?: string; limit?: number } = {}) {
    return allPages((cursor) => this.listConversations({ ...query, ...cursor }));
  }

  /** GET /v1/conversations/{id} — with its messages (conversations:read) */
  getConversation(id: string) {
    return request<ConversationWithMessages>(this.opts, "GET", `v1/conversations/${enc(id)}`);
  }

  /** DELETE /v1/conversations/{id} (conversations:write) */
  deleteConversation(id: string) {
    return request<{ id: string; deleted: boolean }>(
      this.opts,
      "DELETE",
      `v1/conversations/${enc(id)}`,
    );
  }

  /** POST /v1/messages/{id}/feedback — rates an answer (conversations:write) */
  setFeedback(messageId: string, body: FeedbackBody) {
    return request<ChatMessage>(this.opts, "POST", `v1/messages/${enc(messageId)}/feedback`, {
      body,
    });
  }
}
