import type { AddMemoryBody, Memory, SearchMemoriesBody } from "@engram/contract";
import type { IdempotencyKey } from "../db/idempotency.ts";
import type { EntityService } from "../entities/entity-service.ts";
import type { ErasureService } from "../erasure/erasure-service.ts";
import { AppError } from "../lib/errors.ts";
import type { MemoryEventService } from "../memories/memory-event-service.ts";
import type { MemoryService } from "../memories/memory-service.ts";
import type { TenantContext } from "../tenancy/context.ts";
import { translateFilters } from "./mem0-filters.ts";
import type {
  Mem0AddBody,
  Mem0BatchDeleteBody,
  Mem0BatchUpdateBody,
  Mem0DeleteAllQuery,
  Mem0GetAllBody,
  Mem0PageQuery,
  Mem0SearchBody,
  Mem0UpdateBody,
} from "./mem0-schemas.ts";
import {
  mem0AddResult,
  mem0Entity,
  mem0Event,
  mem0History,
  mem0Hit,
  mem0Memory,
  mem0Status,
} from "./mem0-shapes.ts";

/** Where the mem0-compatible routes live: a mem0 client's `host` is the server URL plus this. */
export const MEM0_PREFIX = "/mem0";

/** mem0's page size on get all and the entity list when the client sends none. */
const DEFAULT_PAGE_SIZE = 100;
/** Engram's largest page, used to walk a listing. */
const WALK_PAGE = 100;
/** How far get all and the entity list count (`count`) past the page asked for. */
const COUNT_MAX = 10_000;

export interface Mem0Deps {
  memories: MemoryService;
  events: MemoryEventService;
  /** The users/agents/runs list and their deletion; absent, those routes are not served. */
  entities?: EntityService | undefined;
  erasure?: ErasureService | undefined;
}

const refuseAppId = (appId: string | undefined, field = "app_id") => {
  if (appId !== undefined) {
    throw new AppError(
      "validation_failed",
      "Engram has no apps: scope by user_id, agent_id or run_id, or put the app in metadata",
      field,
    );
  }
};

/** Only the keys whose value is set (the verbs' inputs are closed objects). */
function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** One page of a listing walked `WALK_PAGE` at a time, with the total counted up to COUNT_MAX. */
async function pageOf<T>(
  list: (cursor: string | undefined) => Promise<{ results: T[]; next_cursor: string | null }>,
  query: Mem0PageQuery,
  path: string,
) {
  const page = query.page ?? 1;
  const size = query.page_size ?? DEFAULT_PAGE_SIZE;
  const skip = (page - 1) * size;
  const results: T[] = [];
  let total = 0;
  let cursor: string | undefined;
  do {
    const r = await list(cursor);
    for (const item of r.results) {
      if (total >= skip && results.length < size) results.push(item);
      total++;
    }
    cursor = r.next_cursor ?? undefined;
  } while (cursor !== undefined && total < Math.max(COUNT_MAX, skip + size));
  const link = (p: number) => `${MEM0_PREFIX}${path}?page=${p}&page_size=${size}`;
  return {
    count: total,
    next: total > skip + size ? link(page + 1) : null,
    previous: page > 1 ? link(page - 1) : null,
    results,
  };
}

/**
 * The mem0-compatible surface's verbs: each maps mem0's request onto Engram's own service verbs
 * (memories, asynchronous adds, entities, erasure) and their answer onto mem0's shapes. No memory
 * logic lives here; scopes, quotas, audit and row-level security are the verbs' own.
 */
export function createMem0Service(deps: Mem0Deps) {
  const { memories, events } = deps;

  function entities(): EntityService {
    if (!deps.entities) throw new AppError("not_found", "Entities are not served here");
    return deps.entities;
  }

  /** Engram ids of a batch, each checked to exist before anything changes (404 names it). */
  async function existing(ctx: TenantContext, ids: string[]): Promise<string[]> {
    const unique = [...new Set(ids)];
    for (const id of unique) await memories.getMemory(ctx, id);
    return unique;
  }

  return {
    /** GET /v1/ping/: the key is valid; mem0 clients read the org and project from it. */
    ping(ctx: TenantContext) {
      return {
        status: "ok",
        message: "The API key is valid",
        org_id: ctx.tenantId,
        project_id: ctx.projectId,
      };
    },

    /**
     * POST /v3/memories/add/ with mem0's defaults: `infer` true (Engram's inference, the local
     * engine unless an LLM is configured) and `async_mode` true (Engram's asynchronous add).
     */
    async add(ctx: TenantContext, input: Mem0AddBody, idem?: IdempotencyKey) {
      refuseAppId(input.app_id);
      if (!input.user_id && !input.agent_id && !input.run_id) {
        throw new AppError(
          "validation_failed",
          "Give at least one of user_id, agent_id or run_id",
          "user_id",
        );
      }
      const body: AddMemoryBody = {
        ...(typeof input.messages === "string"
          ? { text: input.messages }
          : {
              messages: input.messages.map((m) =>
                defined({ role: m.role, content: m.content, name: m.name }),
              ) as AddMemoryBody["messages"],
            }),
        ...defined({
          user_id: input.user_id,
          agent_id: input.agent_id,
          session_id: input.run_id,
          metadata: input.metadata,
          timestamp:
            input.timestamp === undefined
              ? undefined
              : new Date(input.timestamp * 1000).toISOString(),
        }),
        infer: input.infer ?? true,
      };
      if (input.async_mode ?? true) {
        const accepted = await events.acceptAdd(ctx, body, idem);
        return {
          results: [
            {
              message: "Memory processing has been queued for background execution",
              status: mem0Status(accepted.status),
              event_id: accepted.event_id,
            },
          ],
        };
      }
      const added = await memories.addMemory(ctx, body, idem);
      return { results: added.results.map(mem0AddResult) };
    },

    /** GET /v1/event/{id}/: an asynchronous add. */
    async getEvent(ctx: TenantContext, id: string) {
      return mem0Event(await events.getEvent(ctx, id));
    },

    /** POST /v3/memories/search/: filters translated (mem0-filters.ts), best first. */
    async search(ctx: TenantContext, input: Mem0SearchBody) {
      const { scope, filters } = translateFilters(input.filters);
      const extra: Record<string, unknown>[] = [];
      if (filters) extra.push(filters);
      if (input.categories) extra.push({ categories: { in: input.categories } });
      for (const [key, value] of Object.entries(input.metadata ?? {})) {
        extra.push({ [key]: { eq: value } });
      }
      const body: SearchMemoriesBody = {
        query: input.query,
        ...defined({
          ...scope,
          filters: extra.length === 0 ? undefined : extra.length === 1 ? extra[0] : { and: extra },
          limit: input.top_k ?? 10,
          threshold: input.threshold,
          rerank: input.rerank,
          include_superseded: input.latest_only === false ? true : undefined,
          reference_time:
            typeof input.reference_date === "number"
              ? new Date(input.reference_date * 1000).toISOString()
              : input.reference_date,
        }),
      };
      const found = await memories.searchMemories(ctx, body);
      return { results: found.results.map(mem0Hit) };
    },

    /** POST /v3/memories/: a scope's memories, newest first, a page at a time. */
    async getAll(ctx: TenantContext, input: Mem0GetAllBody, query: Mem0PageQuery) {
      const { scope, filters } = translateFilters(input.filters);
      if (filters) {
        throw new AppError(
          "invalid_filter",
          "filters: get all selects by user_id, agent_id and run_id only; filter by metadata or categories with search",
          "filters",
        );
      }
      const include = input.latest_only === false ? { include_superseded: true } : {};
      const page = await pageOf(
        (cursor) =>
          memories.listMemories(ctx, {
            ...scope,
            ...include,
            limit: WALK_PAGE,
            ...defined({ cursor }),
          }),
        query,
        "/v3/memories/",
      );
      return { ...page, results: page.results.map(mem0Memory) };
    },

    async get(ctx: TenantContext, id: string) {
      return mem0Memory(await memories.getMemory(ctx, id));
    },

    /** PUT /v1/memories/{id}/: new text (re-embedded) and/or metadata. */
    async update(ctx: TenantContext, id: string, input: Mem0UpdateBody) {
      return mem0Memory(await memories.updateMemory(ctx, id, input));
    },

    async delete(ctx: TenantContext, id: string, deleteLinked: boolean | undefined) {
      if (deleteLinked) {
        throw new AppError(
          "validation_failed",
          "delete_linked is not supported: Engram keeps superseded memories' history; delete each memory",
          "delete_linked",
        );
      }
      await memories.deleteMemory(ctx, id);
      return { message: "Memory deleted successfully!" };
    },

    /** DELETE /v1/memories/?user_id=…: every memory of a scope (at least one id). */
    async deleteAll(ctx: TenantContext, query: Mem0DeleteAllQuery) {
      refuseAppId(query.app_id);
      const scope = { user_id: query.user_id, agent_id: query.agent_id, session_id: query.run_id };
      for (const [key, value] of Object.entries(scope)) {
        if (value === "*") {
          throw new AppError(
            "validation_failed",
            'The wildcard "*" is not supported: delete one scope at a time',
            key === "session_id" ? "run_id" : key,
          );
        }
      }
      const { deleted } = await memories.deleteMemories(ctx, defined(scope));
      return { message: "Memories deleted successfully!", deleted };
    },

    /** GET /v1/memories/{id}/history/: oldest first; kept after the memory is deleted. */
    async history(ctx: TenantContext, id: string) {
      const { results } = await memories.getMemoryHistory(ctx, id);
      const memory: Memory | undefined = await memories.getMemory(ctx, id).catch((err) => {
        if (err instanceof AppError && err.code === "not_found") return undefined;
        throw err;
      });
      return results.map((h) => mem0History(h, memory));
    },

    /** PUT /v1/batch/: every id is checked first, so an unknown one changes nothing. */
    async batchUpdate(ctx: TenantContext, input: Mem0BatchUpdateBody) {
      await existing(
        ctx,
        input.memories.map((m) => m.memory_id),
      );
      for (const m of input.memories)
        await memories.updateMemory(ctx, m.memory_id, { text: m.text });
      return { message: `Successfully updated ${input.memories.length} memories` };
    },

    /** DELETE /v1/batch/: every id is checked first, so an unknown one deletes nothing. */
    async batchDelete(ctx: TenantContext, input: Mem0BatchDeleteBody) {
      const ids = await existing(
        ctx,
        input.memories.map((m) => m.memory_id),
      );
      for (const id of ids) await memories.deleteMemory(ctx, id);
      return { message: `Successfully deleted ${ids.length} memories` };
    },

    /** GET /v1/entities/: the users, agents and runs (sessions) that have memories. */
    async listEntities(ctx: TenantContext, query: Mem0PageQuery) {
      const service = entities();
      const types = ["user", "agent", "session"] as const;
      // One listing across the three types: each type's cursor is its own, so walk them in turn.
      let type = 0;
      const page = await pageOf(
        async (cursor) => {
          const current = types[type];
          if (current === undefined) return { results: [], next_cursor: null };
          const r = await service.listEntities(ctx, {
            type: current,
            limit: WALK_PAGE,
            ...(cursor ? { cursor } : {}),
          });
          if (r.next_cursor !== null || ++type >= types.length) return r;
          // The next type starts from its beginning: "" continues the walk without a cursor.
          return { results: r.results, next_cursor: "" };
        },
        query,
        "/v1/entities/",
      );
      return { ...page, results: page.results.map(mem0Entity) };
    },

    /**
     * DELETE /v2/entities/{type}/{name}/: a user is erased (DELETE /v1/users/{id}: memories,
     * history, documents), an agent or run loses its memories; 404 when it has none.
     */
    async deleteEntity(ctx: TenantContext, type: string, name: string) {
      const service = entities();
      if (type === "user") {
        await service.getEntity(ctx, `user:${name}`, { memory_limit: 1 });
        if (!deps.erasure) throw new AppError("not_found", "Erasure is not served here");
        await deps.erasure.eraseUser(ctx, name);
      } else if (type === "agent" || type === "run") {
        await service.deleteEntity(ctx, `${type === "run" ? "session" : type}:${name}`);
      } else {
        refuseAppId(type === "app" ? name : undefined, "entity_type");
        throw new AppError(
          "validation_failed",
          "The entity type is user, agent or run",
          "entity_type",
        );
      }
      return { message: "Entity deleted successfully." };
    },
  };
}
