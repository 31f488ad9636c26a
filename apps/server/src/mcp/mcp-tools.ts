import {
  AddMemoryBody,
  ChatBody,
  GetContextBody,
  ListAgentsQuery,
  ListMemoriesQuery,
  MemoryIdParams,
  ObjectIdParams,
  type Scope,
  SearchKnowledgeBody,
  SearchMemoriesBody,
} from "@engram/contract";
import Type, { type Static, type TSchema } from "typebox";

/** What `chat_with_agent` takes: the agent, then ChatBody without `stream` (a tool answers once). */
const { stream: _stream, ...chatFields } = ChatBody.properties;
const ChatWithAgentInput = Type.Object(
  {
    agent_id: Type.Unsafe<string>({ ...ObjectIdParams.properties.id, description: "agt_… id" }),
    ...chatFields,
  },
  { additionalProperties: false },
);
const DeleteMemoryInput = Type.Object(MemoryIdParams.properties, { additionalProperties: false });

/**
 * The API a tool call runs against: the service verbs with the caller's context (`/mcp` on
 * `engram serve`), or the HTTP API through the SDK (`engram mcp`). Every method is one API
 * operation, so a tool does exactly what its HTTP call does.
 */
export interface McpBackend {
  addMemory(input: AddMemoryBody): Promise<object>;
  searchMemories(input: SearchMemoriesBody): Promise<object>;
  getContext(input: GetContextBody): Promise<object>;
  listMemories(input: ListMemoriesQuery): Promise<object>;
  deleteMemory(id: string): Promise<object>;
  searchKnowledge(input: SearchKnowledgeBody): Promise<object>;
  listAgents(input: Static<typeof ListAgentsQuery>): Promise<object>;
  chat(agentId: string, input: Omit<ChatBody, "stream">): Promise<object>;
}

/** One MCP tool: its listing, the scopes it needs, and the API operation it calls. */
export interface McpTool {
  name: string;
  title: string;
  description: string;
  /** JSON Schema of the arguments: the contract's schema of the operation's request. */
  inputSchema: TSchema;
  /** The key must carry all of these (`any`: at least one of them) to see and call the tool. */
  scopes: { all: Scope[] } | { any: Scope[] };
  /** Hints for hosts (MCP tool annotations): whether the tool changes anything. */
  readOnly: boolean;
  /** Only on a server with agents (apps/server/src/agents). */
  agents?: true;
  call(backend: McpBackend, input: unknown): Promise<object>;
}

function tool<S extends TSchema>(
  def: Omit<McpTool, "inputSchema" | "call"> & {
    inputSchema: S;
    call: (backend: McpBackend, input: Static<S>) => Promise<object>;
  },
): McpTool {
  return def as McpTool;
}

/** Every tool, in the order hosts list them. */
export const MCP_TOOLS: readonly McpTool[] = [
  tool({
    name: "add_memory",
    title: "Add a memory",
    description:
      "Store a memory for an end user (user_id), agent or session: `text`, or a conversation as `messages`. With infer: true, facts are extracted and reconciled with the scope's memories (ADD, UPDATE, DELETE, NOOP); the results say what happened to each.",
    inputSchema: AddMemoryBody,
    scopes: { all: ["memories:write"] },
    readOnly: false,
    call: (b, input) => b.addMemory(input),
  }),
  tool({
    name: "search_memories",
    title: "Search memories",
    description:
      "Hybrid (semantic + keyword) search of the memories in a scope, best first, each with its score. Pass the end user's user_id to search their memories.",
    inputSchema: SearchMemoriesBody,
    scopes: { all: ["memories:read"] },
    readOnly: true,
    call: (b, input) => b.searchMemories(input),
  }),
  tool({
    name: "get_context",
    title: "Get context for a prompt",
    description:
      "The best memories and knowledge for a query, deduplicated and packed into a token budget: `context` is ready to put in a prompt.",
    inputSchema: GetContextBody,
    scopes: { any: ["memories:read", "knowledge:read"] },
    readOnly: true,
    call: (b, input) => b.getContext(input),
  }),
  tool({
    name: "list_memories",
    title: "List memories",
    description:
      "List the memories in a scope, newest first; pass `next_cursor` back as `cursor` for the next page.",
    inputSchema: ListMemoriesQuery,
    scopes: { all: ["memories:read"] },
    readOnly: true,
    call: (b, input) => b.listMemories(input),
  }),
  tool({
    name: "delete_memory",
    title: "Delete a memory",
    description: "Delete one memory by its id (mem_…).",
    inputSchema: DeleteMemoryInput,
    scopes: { all: ["memories:write"] },
    readOnly: false,
    call: (b, input) => b.deleteMemory(input.id),
  }),
  tool({
    name: "search_knowledge",
    title: "Search knowledge",
    description:
      "Hybrid search of the project's documents, best first, each chunk with its citation (document, page or section).",
    inputSchema: SearchKnowledgeBody,
    scopes: { all: ["knowledge:read"] },
    readOnly: true,
    call: (b, input) => b.searchKnowledge(input),
  }),
  tool({
    name: "list_agents",
    title: "List agents",
    description:
      "List the project's agents (id, name, instructions), a page at a time: pass `next_cursor` back as `cursor`.",
    inputSchema: ListAgentsQuery,
    scopes: { all: ["agents:read"] },
    readOnly: true,
    agents: true,
    call: (b, input) => b.listAgents(input),
  }),
  tool({
    name: "chat_with_agent",
    title: "Chat with an agent",
    description:
      "Ask an agent (agent_id from list_agents) a question: its answer from the project's knowledge and the user's memories, with citations. Pass conversation_id back to continue a conversation.",
    inputSchema: ChatWithAgentInput,
    scopes: { all: ["agents:read", "conversations:write"] },
    readOnly: false,
    agents: true,
    call: (b, { agent_id, ...input }) => b.chat(agent_id, input),
  }),
];

/** The scope a key without it lacks for this tool (undefined: it may call it). */
export function missingScope(tool: McpTool, scopes: ReadonlySet<Scope>): Scope | undefined {
  if ("any" in tool.scopes) {
    return tool.scopes.any.some((s) => scopes.has(s)) ? undefined : tool.scopes.any[0];
  }
  return tool.scopes.all.find((s) => !scopes.has(s));
}
