import type {
  AddMemoryResult,
  Entity,
  HistoryEntry,
  Memory,
  MemoryEventRecord,
  SearchHit,
} from "@engram/contract";

// Engram's objects in the shapes mem0's clients read (mem0ai 3.3.1's `Memory`, `MemoryHistory`,
// `User`…), built field by field: allow-lists, never a spread of an Engram object.

/** A memory as mem0 returns it: `run_id` is Engram's session, `app_id` is always null. */
export function mem0Memory(m: Memory) {
  return {
    id: m.id,
    memory: m.memory,
    user_id: m.user_id,
    agent_id: m.agent_id,
    app_id: null,
    run_id: m.session_id,
    metadata: m.metadata,
    categories: m.categories,
    created_at: m.created_at,
    updated_at: m.updated_at,
    expiration_date: null,
  };
}

/** A search hit: the memory and its fused score. */
export const mem0Hit = (h: SearchHit) => ({ ...mem0Memory(h), score: h.score });

/** One decision of an add (ADD, UPDATE, DELETE, NOOP). */
export function mem0AddResult(r: AddMemoryResult) {
  return {
    id: r.id,
    memory: r.memory,
    event: r.event,
    ...(r.previous_memory !== undefined ? { previous_memory: r.previous_memory } : {}),
  };
}

const EVENT_STATUS = {
  queued: "PENDING",
  running: "RUNNING",
  succeeded: "SUCCEEDED",
  failed: "FAILED",
} as const;

/** mem0's status words for an asynchronous add. */
export const mem0Status = (status: MemoryEventRecord["status"]) => EVENT_STATUS[status];

/** GET /v1/event/{id}/: an asynchronous add's status and, once done, its results. */
export function mem0Event(e: MemoryEventRecord) {
  return {
    id: e.id,
    event_type: "ADD",
    status: mem0Status(e.status),
    results: (e.results ?? []).map(mem0AddResult),
    ...(e.error ? { error: e.error } : {}),
    created_at: e.created_at,
    updated_at: e.updated_at,
  };
}

/** A history entry; `input` is the messages the decision came from. */
export function mem0History(h: HistoryEntry, memory: Memory | undefined) {
  return {
    id: h.id,
    memory_id: h.memory_id,
    input: (h.sources ?? []).map((s) => ({ role: s.role ?? "user", content: s.content })),
    old_memory: h.old_memory,
    new_memory: h.new_memory,
    user_id: memory?.user_id ?? null,
    categories: memory?.categories ?? [],
    event: h.event,
    metadata: h.new_metadata,
    created_at: h.created_at,
    updated_at: h.created_at,
  };
}

/** mem0's entity types for Engram's scope types: a session is mem0's run. */
const ENTITY_TYPE = { user: "user", agent: "agent", session: "run" } as const;

/** A user, agent or run with memories, as mem0's entity list gives it. */
export function mem0Entity(e: Entity) {
  return {
    id: e.id,
    name: e.name,
    type: ENTITY_TYPE[e.type as keyof typeof ENTITY_TYPE],
    total_memories: e.memory_count,
    owner: null,
    organization: null,
    metadata: null,
    created_at: e.created_at,
    updated_at: e.updated_at,
  };
}
