import type { Memory, MessageSource, Metadata } from "@engram/contract";

/** A memories row as selected with MEMORY_COLUMNS. */
export interface MemoryRow {
  id: string;
  project_id: string;
  memory: string;
  role: string | null;
  user_id: string | null;
  agent_id: string | null;
  session_id: string | null;
  metadata: Metadata;
  occurred_at: Date | null;
  valid_from: Date | null;
  valid_to: Date | null;
  superseded_by: string | null;
  categories: string[];
  sources: MessageSource[];
  embedding_model: string;
  created_at: Date;
  updated_at: Date;
}

export const MEMORY_COLUMNS =
  "id, project_id, memory, role, user_id, agent_id, session_id, metadata, occurred_at, valid_from, valid_to, superseded_by, categories, sources, embedding_model, created_at, updated_at";

/** Maps a row to the API's allow-listed memory shape. */
export function toMemory(r: MemoryRow): Memory {
  return {
    id: r.id,
    project_id: r.project_id,
    memory: r.memory,
    role: r.role,
    user_id: r.user_id,
    agent_id: r.agent_id,
    session_id: r.session_id,
    metadata: r.metadata,
    timestamp: r.occurred_at ? r.occurred_at.toISOString() : null,
    valid_from: r.valid_from ? r.valid_from.toISOString() : null,
    valid_to: r.valid_to ? r.valid_to.toISOString() : null,
    superseded_by: r.superseded_by,
    categories: r.categories ?? [],
    sources: r.sources ?? [],
    embedding_model: r.embedding_model,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  };
}
