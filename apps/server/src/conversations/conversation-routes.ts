import {
  ChatMessage,
  ConversationWithMessages,
  DeleteConversationResponse,
  FeedbackBody,
  ListConversationsQuery,
  ListConversationsResponse,
  ObjectIdParams,
} from "@engram/contract";
import type { App } from "../http/app.ts";
import { type Auth, ctxOf } from "../http/auth.ts";
import { problemResponses } from "../http/route-helpers.ts";
import type { ConversationService } from "./conversation-service.ts";

const common = { tags: ["agents"], security: [{ apiKey: [] }] };

/** /v1/conversations and /v1/messages/{id}/feedback (docs/agents.md). */
export function registerConversationRoutes(
  app: App,
  conversations: ConversationService,
  auth: Auth,
) {
  const onRequest = auth.tenant;

  app.get(
    "/v1/conversations",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "listConversations",
        summary: "Conversations with the project's agents, newest first",
        querystring: ListConversationsQuery,
        response: { 200: ListConversationsResponse, ...problemResponses },
      },
    },
    async (request) => conversations.listConversations(ctxOf(request), request.query),
  );

  app.get(
    "/v1/conversations/:id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "getConversation",
        summary: "A conversation with its messages (the latest 500), citations, usage and feedback",
        params: ObjectIdParams,
        response: { 200: ConversationWithMessages, ...problemResponses },
      },
    },
    async (request) => conversations.getConversation(ctxOf(request), request.params.id),
  );

  app.delete(
    "/v1/conversations/:id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "deleteConversation",
        summary: "Delete a conversation with its messages",
        params: ObjectIdParams,
        response: { 200: DeleteConversationResponse, ...problemResponses },
      },
    },
    async (request) => conversations.deleteConversation(ctxOf(request), request.params.id),
  );

  app.post(
    "/v1/messages/:id/feedback",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "setMessageFeedback",
        summary: "Rate an answer (the last rating given counts)",
        params: ObjectIdParams,
        body: FeedbackBody,
        response: { 200: ChatMessage, ...problemResponses },
      },
    },
    async (request) => conversations.setFeedback(ctxOf(request), request.params.id, request.body),
  );
}
