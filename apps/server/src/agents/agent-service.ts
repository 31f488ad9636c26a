import { randomBytes } from "node:crypto";
import type {
  Agent,
  AgentPublicConfig,
  CreateAgentBody,
  ListAgentsResponse,
  UpdateAgentBody,
} from "@engram/contract";
import { decodeIdCursor, pageOf } from "../lib/cursor.ts";
import { notFound } from "../lib/errors.ts";
import { isId, newId } from "../lib/ids.ts";
import { actorName, requireScope, type TenantContext } from "../tenancy/context.ts";
import { countLimitExceeded } from "../tenancy/plan-limits.ts";
import type { AgentFields, AgentRow, AgentStore } from "./agent-store.ts";

const PUBLISHABLE_PREFIX = "pk_";

/** A new publishable key: 24 random bytes, so one can be neither guessed nor enumerated. */
function newPublishableKey(): string {
  return `${PUBLISHABLE_PREFIX}${randomBytes(24).toString("base64url")}`;
}

/** True for a string shaped like a publishable key (the auth layer refuses it on API routes). */
export function looksLikePublishableKey(token: string): boolean {
  return token.startsWith(PUBLISHABLE_PREFIX) && token.length === PUBLISHABLE_PREFIX.length + 32;
}

function toAgent(row: AgentRow): Agent {
  return {
    id: row.id,
    name: row.name,
    instructions: row.instructions,
    greeting: row.greeting,
    knowledge: { collections: row.knowledge.collections ?? null },
    memory: row.memory,
    model: row.model,
    allowed_origins: row.allowed_origins,
    publishable_key: row.publishable_key,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** The fields of an agent after a change: what the change names replaces what was. */
function changed(current: AgentRow, input: UpdateAgentBody): AgentFields {
  return {
    name: input.name ?? current.name,
    instructions: input.instructions ?? current.instructions,
    greeting: input.greeting === undefined ? current.greeting : input.greeting,
    knowledge: input.knowledge
      ? { collections: input.knowledge.collections ?? null }
      : current.knowledge,
    memory: input.memory ?? current.memory,
    model: input.model === undefined ? current.model : input.model,
    allowed_origins: input.allowed_origins ?? current.allowed_origins,
  };
}

/** Agents of the key's project: created within the plan's limit, read, changed, deleted. */
export function createAgentService(store: AgentStore) {
  /** The agent of the key's project, or 404 (another project's or tenant's agent included). */
  async function find(ctx: TenantContext, id: string): Promise<AgentRow> {
    const row = isId("agt", id) ? await store.getAgent(ctx.tenantId, ctx.projectId, id) : undefined;
    if (!row) throw notFound("Agent", id);
    return row;
  }

  return {
    async createAgent(ctx: TenantContext, input: CreateAgentBody): Promise<Agent> {
      requireScope(ctx, "agents:write");
      const id = newId("agt");
      const fields: AgentFields = {
        name: input.name,
        instructions: input.instructions ?? "",
        greeting: input.greeting ?? null,
        knowledge: { collections: input.knowledge?.collections ?? null },
        memory: input.memory ?? { read: true, write: false },
        model: input.model ?? null,
        allowed_origins: input.allowed_origins ?? [],
      };
      const limit = ctx.plan.limits.agents;
      const out = await store.insertAgent(
        ctx.tenantId,
        { ...fields, id, projectId: ctx.projectId, publishableKey: newPublishableKey() },
        limit,
        {
          actor: actorName(ctx.actor),
          action: "agent.create",
          details: { project_id: ctx.projectId, name: fields.name },
        },
      );
      if (out.status === "exceeded") {
        throw countLimitExceeded("agents", limit as number, out.count, "agent(s)");
      }
      return toAgent(out.row);
    },

    async listAgents(
      ctx: TenantContext,
      query: { limit?: number | undefined; cursor?: string | undefined },
    ): Promise<ListAgentsResponse> {
      requireScope(ctx, "agents:read");
      const after = decodeIdCursor(query.cursor, "agt");
      const page = await store.listAgents(ctx.tenantId, ctx.projectId, query.limit ?? 20, after);
      return pageOf(page, toAgent);
    },

    async getAgent(ctx: TenantContext, id: string): Promise<Agent> {
      requireScope(ctx, "agents:read");
      return toAgent(await find(ctx, id));
    },

    /** The agent as the chat engine needs it (the caller checked its own scope or key). */
    agentFor: find,

    async updateAgent(ctx: TenantContext, id: string, input: UpdateAgentBody): Promise<Agent> {
      requireScope(ctx, "agents:write");
      const row = isId("agt", id)
        ? await store.updateAgent(
            ctx.tenantId,
            ctx.projectId,
            id,
            (current) => changed(current, input),
            {
              actor: actorName(ctx.actor),
              action: "agent.update",
              details: { project_id: ctx.projectId, fields: Object.keys(input) },
            },
          )
        : undefined;
      if (!row) throw notFound("Agent", id);
      return toAgent(row);
    },

    async deleteAgent(ctx: TenantContext, id: string) {
      requireScope(ctx, "agents:write");
      const out = isId("agt", id)
        ? await store.deleteAgent(ctx.tenantId, ctx.projectId, id, {
            actor: actorName(ctx.actor),
            action: "agent.delete",
            details: { project_id: ctx.projectId },
          })
        : undefined;
      if (!out) throw notFound("Agent", id);
      return { id, deleted: true, conversations: out.conversations };
    },

    /** What the widget may see: name and greeting. */
    async publicConfig(ctx: TenantContext, id: string): Promise<AgentPublicConfig> {
      const row = await find(ctx, id);
      return { id: row.id, name: row.name, greeting: row.greeting };
    },
  };
}
export type AgentService = ReturnType<typeof createAgentService>;
