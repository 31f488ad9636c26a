import {
  type DeleteEntityResponse,
  type EntityDetail,
  type EntityType,
  type GetEntityQuery,
  type ListEntitiesQuery,
  type ListEntitiesResponse,
  SCOPE_ENTITY_TYPES,
  SCOPE_ID_MAX,
  type ScopeEntityType,
} from "@engram/contract";
import { decodeIdCursor, nextIdCursor } from "../lib/cursor.ts";
import { AppError, notFound } from "../lib/errors.ts";
import { isId } from "../lib/ids.ts";
import { appendAudit } from "../tenancy/audit.ts";
import { actorName, requireScope, type TenantContext } from "../tenancy/context.ts";
import { normalizeName } from "./entity-names.ts";
import type { EntityStore } from "./entity-store.ts";

export interface EntityServiceDeps {
  store: EntityStore;
  /** Deletes every memory of an agent or session (the memory service's bulk delete). */
  deleteScopeMemories: (
    ctx: TenantContext,
    scope: { agent_id: string } | { session_id: string },
  ) => Promise<{ deleted: number }>;
}

/** An entity id: a named entity's `ent_…`, or a scope's `user:…`, `agent:…`, `session:…`. */
type ParsedId =
  | { kind: "named"; id: string }
  | { kind: "scope"; type: ScopeEntityType; key: string };

function parseId(id: string): ParsedId | undefined {
  if (isId("ent", id)) return { kind: "named", id };
  const m = /^(user|agent|session):(.+)$/s.exec(id);
  if (!m?.[2] || m[2].length > SCOPE_ID_MAX) return undefined;
  return { kind: "scope", type: m[1] as ScopeEntityType, key: m[2] };
}

const isScopeType = (type: string): type is ScopeEntityType =>
  (SCOPE_ENTITY_TYPES as readonly string[]).includes(type);

/** A scope list's cursor: the last id seen, with its type, base64url. */
function decodeScopeCursor(cursor: string | undefined, type: ScopeEntityType): string | undefined {
  if (cursor === undefined) return undefined;
  const text = Buffer.from(cursor, "base64url").toString();
  if (!text.startsWith(`${type}:`) || text.length === type.length + 1) {
    throw new AppError("validation_failed", "cursor is not valid", "cursor");
  }
  return text.slice(type.length + 1);
}

const DEFAULT_LIMIT = 20;

/** The entity verbs (docs/entities.md), shared by the HTTP routes and (later) the MCP server. */
export function createEntityService(deps: EntityServiceDeps) {
  const { store } = deps;

  return {
    /**
     * Named entities of the project, newest first, or (type user, agent or session) the scope ids
     * that have memories, by id. user_id narrows named entities to that user's and shared ones.
     */
    async listEntities(
      ctx: TenantContext,
      input: ListEntitiesQuery,
    ): Promise<ListEntitiesResponse> {
      requireScope(ctx, "memories:read");
      const limit = input.limit ?? DEFAULT_LIMIT;
      const type = input.type;
      if (type !== undefined && isScopeType(type)) {
        const after = decodeScopeCursor(input.cursor, type);
        const page = await store.listScopes(
          ctx.tenantId,
          ctx.projectId,
          type,
          {
            userId: input.user_id,
            agentId: input.agent_id,
            ...(input.q !== undefined ? { q: input.q } : {}),
          },
          limit,
          after,
        );
        const next =
          page.more && page.last !== undefined
            ? Buffer.from(`${type}:${page.last}`).toString("base64url")
            : null;
        return { results: page.rows, next_cursor: next };
      }
      let q: string | undefined;
      if (input.q !== undefined) {
        q = normalizeName(input.q);
        if (q === "") {
          throw new AppError("validation_failed", "q must contain a letter or a digit", "q");
        }
      }
      const before = decodeIdCursor(input.cursor, "ent");
      const page = await store.listEntities(
        ctx.tenantId,
        ctx.projectId,
        {
          type: type as EntityType | undefined,
          userId: input.user_id,
          agentId: input.agent_id,
          q,
        },
        limit,
        before,
      );
      return { results: page.rows, next_cursor: nextIdCursor(page) };
    },

    /** One entity with its newest current memories and (named entities) its relations. */
    async getEntity(
      ctx: TenantContext,
      id: string,
      input: GetEntityQuery = {},
    ): Promise<EntityDetail> {
      requireScope(ctx, "memories:read");
      const parsed = parseId(id);
      const limit = input.memory_limit ?? DEFAULT_LIMIT;
      const found =
        parsed?.kind === "named"
          ? await store.getEntity(ctx.tenantId, ctx.projectId, parsed.id, limit)
          : parsed?.kind === "scope"
            ? await store.getScope(ctx.tenantId, ctx.projectId, parsed.type, parsed.key, limit)
            : undefined;
      if (!found) throw notFound("Entity", id);
      return found;
    },

    /**
     * A named entity: deletes it, its links and relations, never the memories or chunks. An agent
     * or a session: deletes its memories (as DELETE /v1/memories?agent_id=… does, mem0's meaning).
     * A user: refused, pointing at the erasure of an end user, which removes far more than memories.
     */
    async deleteEntity(ctx: TenantContext, id: string): Promise<DeleteEntityResponse> {
      requireScope(ctx, "memories:write");
      const parsed = parseId(id);
      if (parsed?.kind === "scope") {
        if (parsed.type === "user") {
          throw new AppError(
            "validation_failed",
            "An end user's data is erased with DELETE /v1/users/{user_id} (memories, history, entities and documents); DELETE /v1/memories?user_id=… deletes only their memories",
            "id",
          );
        }
        const scope =
          parsed.type === "agent" ? { agent_id: parsed.key } : { session_id: parsed.key };
        const { deleted } = await deps.deleteScopeMemories(ctx, scope);
        if (deleted === 0) throw notFound("Entity", id);
        return {
          id,
          deleted: true,
          memories: deleted,
          memory_links: 0,
          chunk_links: 0,
          relations: 0,
        };
      }
      const removed =
        parsed?.kind === "named"
          ? await store.deleteEntity(ctx.tenantId, ctx.projectId, parsed.id, (tx, r) =>
              appendAudit(tx, ctx.tenantId, {
                actor: actorName(ctx.actor),
                action: "entity.delete",
                targetId: parsed.id,
                details: { project_id: ctx.projectId, ...r },
              }),
            )
          : undefined;
      if (!removed) throw notFound("Entity", id);
      return { id, deleted: true, memories: 0, ...removed };
    },
  };
}
export type EntityService = ReturnType<typeof createEntityService>;
