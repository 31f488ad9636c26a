import Type, { type Static } from "typebox";
import { DateTime, PrefixedId, ScopeId } from "./common.ts";
import { DocumentId } from "./knowledge.ts";

const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const AgentId = PrefixedId("agt");
export const ConversationId = PrefixedId("cnv");
export const MessageId = PrefixedId("msg");

/** Longest agent instructions (a system prompt), in characters. */
export const AGENT_INSTRUCTIONS_MAX = 20_000;
/** Longest chat message a visitor may send, in characters. */
export const CHAT_MESSAGE_MAX = 4_000;
/** Most origins an agent's widget may be embedded on. */
export const AGENT_ORIGINS_MAX = 20;

/** A web origin as browsers send it: scheme, host and optional port, nothing else. */
export const WebOrigin = Type.String({
  pattern: "^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$",
  maxLength: 300,
  description: "An origin as a browser sends it, e.g. https://shop.example.com",
});

const AgentKnowledge = Type.Object(
  {
    collections: Type.Optional(
      Nullable(
        Type.Array(ScopeId, {
          maxItems: 20,
          uniqueItems: true,
          description: "Knowledge collections the agent answers from; null or absent: all of them",
        }),
      ),
    ),
  },
  { additionalProperties: false },
);

const AgentMemory = Type.Object(
  {
    read: Type.Boolean({ description: "Answers draw on the visitor's memories (user_id)" }),
    write: Type.Boolean({
      description: "The visitor's messages feed inference (asynchronously) under their user_id",
    }),
  },
  { additionalProperties: false },
);

const agentFields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  instructions: Type.String({ maxLength: AGENT_INSTRUCTIONS_MAX }),
  greeting: Nullable(Type.String({ maxLength: 2_000 })),
  knowledge: AgentKnowledge,
  memory: AgentMemory,
  model: Nullable(
    Type.String({
      pattern: "^[A-Za-z0-9._:/@+-]{1,200}$",
      description: "Replaces the plan's primary chat model; the plan's fallback still applies",
    }),
  ),
  allowed_origins: Type.Array(WebOrigin, { maxItems: AGENT_ORIGINS_MAX, uniqueItems: true }),
};

export const CreateAgentBody = Type.Object(
  {
    name: agentFields.name,
    instructions: Type.Optional(agentFields.instructions),
    greeting: Type.Optional(agentFields.greeting),
    knowledge: Type.Optional(agentFields.knowledge),
    memory: Type.Optional(agentFields.memory),
    model: Type.Optional(agentFields.model),
    allowed_origins: Type.Optional(agentFields.allowed_origins),
  },
  { additionalProperties: false, title: "CreateAgentBody" },
);
export type CreateAgentBody = Static<typeof CreateAgentBody>;

export const UpdateAgentBody = Type.Object(
  {
    name: Type.Optional(agentFields.name),
    instructions: Type.Optional(agentFields.instructions),
    greeting: Type.Optional(agentFields.greeting),
    knowledge: Type.Optional(agentFields.knowledge),
    memory: Type.Optional(agentFields.memory),
    model: Type.Optional(agentFields.model),
    allowed_origins: Type.Optional(agentFields.allowed_origins),
  },
  { additionalProperties: false, minProperties: 1, title: "UpdateAgentBody" },
);
export type UpdateAgentBody = Static<typeof UpdateAgentBody>;

export const Agent = Type.Object(
  {
    id: AgentId,
    ...agentFields,
    publishable_key: Type.String({
      description:
        "pk_…: public by design, for the widget: it only reads this agent's public config and chats, from allowed_origins",
    }),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: "Agent" },
);
export type Agent = Static<typeof Agent>;

export const ListAgentsResponse = Type.Object(
  { results: Type.Array(Agent), next_cursor: Nullable(Type.String()) },
  { title: "ListAgentsResponse" },
);
export type ListAgentsResponse = Static<typeof ListAgentsResponse>;

/** What the widget may see of an agent (GET /v1/agents/{id}/config with the publishable key). */
export const AgentPublicConfig = Type.Object(
  {
    id: AgentId,
    name: Type.String(),
    greeting: Nullable(Type.String()),
  },
  { title: "AgentPublicConfig" },
);
export type AgentPublicConfig = Static<typeof AgentPublicConfig>;

export const ChatBody = Type.Object(
  {
    message: Type.String({ minLength: 1, maxLength: CHAT_MESSAGE_MAX }),
    conversation_id: Type.Optional(ConversationId),
    user_id: Type.Optional(ScopeId),
    stream: Type.Optional(
      Type.Boolean({ default: true, description: "false: one JSON object instead of SSE" }),
    ),
  },
  { additionalProperties: false, title: "ChatBody" },
);
export type ChatBody = Static<typeof ChatBody>;

/** A source an answer drew on: a knowledge chunk, with where it stands in its document. */
export const ChatCitation = Type.Object(
  {
    document_id: DocumentId,
    title: Type.String({ description: "The document's filename" }),
    page: Type.Optional(Type.Integer()),
    heading: Type.Optional(Type.String()),
    snippet: Type.String(),
  },
  { title: "ChatCitation" },
);
export type ChatCitation = Static<typeof ChatCitation>;

export const ChatUsage = Type.Object(
  {
    tokens_in: Type.Integer({ minimum: 0 }),
    tokens_out: Type.Integer({ minimum: 0 }),
    cost_usd: Type.Number({ minimum: 0 }),
  },
  { title: "ChatUsage" },
);
export type ChatUsage = Static<typeof ChatUsage>;

export const ChatMode = Type.Enum(["llm", "extractive"] as const);
export type ChatMode = Static<typeof ChatMode>;

/** The `done` event: the answer is complete (or was cut off: `terminated`). */
export const ChatDone = Type.Object(
  {
    message_id: MessageId,
    mode: ChatMode,
    cached: Type.Boolean(),
    terminated: Type.Boolean({
      description: "The answer was cut at the request's cost ceiling or the tenant's LLM budget",
    }),
    usage: ChatUsage,
  },
  { title: "ChatDone" },
);
export type ChatDone = Static<typeof ChatDone>;

/** `stream: false`: every event of the stream folded into one object. */
export const ChatResponse = Type.Object(
  {
    conversation_id: ConversationId,
    text: Type.String(),
    citations: Type.Array(ChatCitation),
    ...ChatDone.properties,
  },
  { title: "ChatResponse" },
);
export type ChatResponse = Static<typeof ChatResponse>;

export const FeedbackRating = Type.Enum(["up", "down"] as const);

export const Feedback = Type.Object(
  {
    rating: FeedbackRating,
    comment: Nullable(Type.String({ maxLength: 2_000 })),
    created_at: DateTime,
  },
  { title: "Feedback" },
);

export const FeedbackBody = Type.Object(
  {
    rating: FeedbackRating,
    comment: Type.Optional(Type.String({ maxLength: 2_000 })),
  },
  { additionalProperties: false, title: "FeedbackBody" },
);
export type FeedbackBody = Static<typeof FeedbackBody>;

export const ChatMessage = Type.Object(
  {
    id: MessageId,
    role: Type.Enum(["user", "assistant"] as const),
    text: Type.String(),
    citations: Type.Array(ChatCitation),
    mode: Nullable(ChatMode),
    cached: Type.Boolean(),
    terminated: Type.Boolean(),
    usage: Nullable(ChatUsage),
    feedback: Nullable(Feedback),
    created_at: DateTime,
  },
  { title: "ChatMessage" },
);
export type ChatMessage = Static<typeof ChatMessage>;

export const Conversation = Type.Object(
  {
    id: ConversationId,
    agent_id: AgentId,
    user_id: Nullable(Type.String()),
    message_count: Type.Integer(),
    usage: ChatUsage,
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: "Conversation" },
);
export type Conversation = Static<typeof Conversation>;

export const ConversationWithMessages = Type.Object(
  { ...Conversation.properties, messages: Type.Array(ChatMessage) },
  { title: "ConversationWithMessages" },
);
export type ConversationWithMessages = Static<typeof ConversationWithMessages>;

export const ListConversationsResponse = Type.Object(
  { results: Type.Array(Conversation), next_cursor: Nullable(Type.String()) },
  { title: "ListConversationsResponse" },
);
export type ListConversationsResponse = Static<typeof ListConversationsResponse>;

/** Path ids: a string of the right length; one that is not such an id is simply not found. */
export const ObjectIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

export const ListAgentsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const ListConversationsQuery = Type.Object(
  {
    agent_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    user_id: Type.Optional(ScopeId),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const DeleteAgentResponse = Type.Object(
  { id: Type.String(), deleted: Type.Boolean(), conversations: Type.Integer() },
  { title: "DeleteAgentResponse" },
);

export const DeleteConversationResponse = Type.Object(
  { id: Type.String(), deleted: Type.Boolean() },
  { title: "DeleteConversationResponse" },
);
