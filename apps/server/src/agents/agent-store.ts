import type { PlanOverrides } from "@engram/contract";
import type { Database } from "../db/database.ts";
import { type AuditEntry, appendAudit } from "../tenancy/audit.ts";

export interface AgentRow {
  id: string;
  project_id: string;
  name: string;
  instructions: string;
  greeting: string | null;
  knowledge: { collections: string[] | null };
  memory: { read: boolean; write: boolean };
  model: string | null;
  allowed_origins: string[];
  publishable_key: string;
  version: number;
  created_at: Date;
  updated_at: Date;
}

/** What a new agent, or a change to one, writes. */
export interface AgentFields {
  name: string;
  instructions: string;
  greeting: string | null;
  knowledge: AgentRow["knowledge"];
  memory: AgentRow["memory"];
  model: string | null;
  allowed_origins: string[];
}

/** An agent found by its publishable key, with its tenant's plan and state. */
export interface PublishableKeyRow {
  agent_id: string;
  tenant_id: string;
  project_id: string;
  allowed_origins: string[];
  plan: string;
  overrides: PlanOverrides;
  suspended_at: Date | null;
  suspended_reason: string | null;
}

const COLUMNS = `id, project_id, name, instructions, greeting, knowledge, memory, model,
  allowed_origins, publishable_key, version, created_at, updated_at`;

type AgentCreation = { status: "exceeded"; count: number } | { status: "created"; row: AgentRow };

/** SQL for agents: creation within the plan's limit, reads, changes, and the publishable key. */
export function createAgentStore(db: Database) {
  return {
    /**
     * Creates an agent unless the tenant already has `limit` of them (null: unlimited). The tenant
     * row lock serialises concurrent creations, so none races past the limit.
     */
    insertAgent: (
      tenantId: string,
      agent: AgentFields & { id: string; projectId: string; publishableKey: string },
      limit: number | null,
      audit: AuditEntry,
    ) =>
      db.withTenant(tenantId, async (tx): Promise<AgentCreation> => {
        if (limit !== null) {
          await tx.query("SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE", [tenantId]);
          const [c] = await tx.query<{ n: string }>(
            "SELECT count(*) AS n FROM agents WHERE tenant_id = $1",
            [tenantId],
          );
          const count = Number(c?.n ?? 0);
          if (count >= limit) return { status: "exceeded", count };
        }
        const [row] = await tx.query<AgentRow>(
          `INSERT INTO agents (id, tenant_id, project_id, name, instructions, greeting, knowledge,
             memory, model, allowed_origins, publishable_key)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${COLUMNS}`,
          [
            agent.id,
            tenantId,
            agent.projectId,
            agent.name,
            agent.instructions,
            agent.greeting,
            JSON.stringify(agent.knowledge),
            JSON.stringify(agent.memory),
            agent.model,
            agent.allowed_origins,
            agent.publishableKey,
          ],
        );
        await appendAudit(tx, tenantId, { ...audit, targetId: agent.id });
        return { status: "created", row: row as AgentRow };
      }),

    listAgents: (tenantId: string, projectId: string, limit: number, after: string | undefined) =>
      db.withTenant(tenantId, async (tx) => {
        const rows = await tx.query<AgentRow>(
          `SELECT ${COLUMNS} FROM agents
           WHERE tenant_id = $1 AND project_id = $2 AND ($3::text IS NULL OR id > $3)
           ORDER BY id LIMIT $4`,
          [tenantId, projectId, after ?? null, limit + 1],
        );
        return { rows: rows.slice(0, limit), more: rows.length > limit };
      }),

    getAgent: (tenantId: string, projectId: string, id: string) =>
      db.withTenant(tenantId, async (tx) => {
        const [row] = await tx.query<AgentRow>(
          `SELECT ${COLUMNS} FROM agents WHERE tenant_id = $1 AND project_id = $2 AND id = $3`,
          [tenantId, projectId, id],
        );
        return row;
      }),

    /** Applies a change (the whole new field set) and bumps the version; undefined when absent. */
    updateAgent: (
      tenantId: string,
      projectId: string,
      id: string,
      change: (current: AgentRow) => AgentFields,
      audit: AuditEntry,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        const [current] = await tx.query<AgentRow>(
          `SELECT ${COLUMNS} FROM agents
           WHERE tenant_id = $1 AND project_id = $2 AND id = $3 FOR UPDATE`,
          [tenantId, projectId, id],
        );
        if (!current) return undefined;
        const f = change(current);
        const [row] = await tx.query<AgentRow>(
          `UPDATE agents SET name = $4, instructions = $5, greeting = $6, knowledge = $7,
             memory = $8, model = $9, allowed_origins = $10, version = version + 1,
             updated_at = now()
           WHERE tenant_id = $1 AND project_id = $2 AND id = $3 RETURNING ${COLUMNS}`,
          [
            tenantId,
            projectId,
            id,
            f.name,
            f.instructions,
            f.greeting,
            JSON.stringify(f.knowledge),
            JSON.stringify(f.memory),
            f.model,
            f.allowed_origins,
          ],
        );
        await appendAudit(tx, tenantId, { ...audit, targetId: id });
        return row;
      }),

    /** Deletes the agent with its conversations and messages (cascade); counts what went. */
    deleteAgent: (tenantId: string, projectId: string, id: string, audit: AuditEntry) =>
      db.withTenant(tenantId, async (tx) => {
        const [c] = await tx.query<{ n: string }>(
          "SELECT count(*) AS n FROM conversations WHERE tenant_id = $1 AND agent_id = $2",
          [tenantId, id],
        );
        const gone = await tx.query<{ id: string }>(
          "DELETE FROM agents WHERE tenant_id = $1 AND project_id = $2 AND id = $3 RETURNING id",
          [tenantId, projectId, id],
        );
        if (gone.length === 0) return undefined;
        const conversations = Number(c?.n ?? 0);
        await appendAudit(tx, tenantId, {
          ...audit,
          targetId: id,
          details: { ...audit.details, conversations },
        });
        return { conversations };
      }),

    /**
     * Resolves a publishable key through the narrow definer function (no tenant is known yet), as
     * one statement (one round trip, like the API-key lookup).
     */
    byPublishableKey: async (key: string) => {
      const [row] = await db.readWithoutTenant<PublishableKeyRow>(
        `SELECT agent_id, tenant_id, project_id, allowed_origins, plan, overrides,
                suspended_at, suspended_reason
         FROM engram_agent_by_publishable_key($1)`,
        [key],
      );
      return row;
    },
  };
}
export type AgentStore = ReturnType<typeof createAgentStore>;
