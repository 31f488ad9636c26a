import type {
  Entity,
  EntityDetail,
  EntityMemory,
  EntityRelation,
  EntityType,
  ScopeEntityType,
} from "@engram/contract";
import type { Database, Queryable } from "../db/database.ts";
import { lockEntities } from "./entity-links.ts";
import { queryNames } from "./entity-names.ts";

/** Whose entities: a project's, narrowed to one end user's own and the shared ones. */
export interface EntityScope {
  projectId: string;
  /** The user's own entities and the project's shared ones; absent: every user's and shared. */
  userId?: string | undefined;
}

/** An entity a search query names, or one relation away from one it names. */
export interface QueryEntity {
  id: string;
  type: EntityType;
  /** The query's words that named it (normalised); for one a relation away, its related one's. */
  matched: string;
  /** 1 named; HOP_WEIGHT a current relation away. */
  weight: number;
}

/** How much an entity one relation away from a named one counts in ranking. */
const HOP_WEIGHT = 0.5;
/** Most related entities a query reaches in one hop. */
const HOPS_MAX = 20;

/**
 * The entities of the scope whose normalised name or an alias equals one of the query's word
 * n-grams of 1 to 3 words (entity-names.ts, queryNames): "what did dr smith say" finds "Dr.
 * Smith" and, through its alias, any "Smith" entity; then those one current relation away
 * ("where does alice work" reaches Alice's employer). Lookups on entity_names' primary key and
 * the relations' subject and object indexes (no scan), in the caller's transaction; the order
 * is not meaningful.
 */
export async function findQueryEntities(
  tx: Queryable,
  tenantId: string,
  scope: EntityScope,
  query: string,
): Promise<QueryEntity[]> {
  const names = queryNames(query);
  if (names.length === 0) return [];
  const params: unknown[] = [tenantId, scope.projectId, names];
  let owners = "";
  if (scope.userId !== undefined) {
    params.push(["", scope.userId]);
    owners = " AND n.owner = ANY($4::text[])";
  }
  // One statement (one round trip): the named entities, then those a current relation away.
  const rows = await tx.query<{ id: string; type: EntityType; matched: string; hop: boolean }>(
    `WITH named AS (
       SELECT DISTINCT ON (n.entity_id) n.entity_id AS id, e.type, n.name AS matched
       FROM entity_names n JOIN entities e ON e.id = n.entity_id AND e.tenant_id = $1
       WHERE n.tenant_id = $1 AND n.project_id = $2 AND n.name = ANY($3::text[])${owners}
       ORDER BY n.entity_id, length(n.name) DESC),
     hops AS (
       SELECT DISTINCT ON (h.id) h.id, e.type, h.via
       FROM (SELECT object_id AS id, subject_id AS via FROM entity_relations
             WHERE tenant_id = $1 AND subject_id IN (SELECT id FROM named) AND valid_to IS NULL
             UNION ALL
             SELECT subject_id, object_id FROM entity_relations
             WHERE tenant_id = $1 AND object_id IN (SELECT id FROM named) AND valid_to IS NULL) h
       JOIN entities e ON e.id = h.id AND e.tenant_id = $1
       WHERE h.id NOT IN (SELECT id FROM named)
       ORDER BY h.id LIMIT ${HOPS_MAX})
     SELECT id, type, matched, false AS hop FROM named
     UNION ALL
     SELECT h.id, h.type, n.matched, true FROM hops h JOIN named n ON n.id = h.via`,
    params,
  );
  return rows.map((r) => ({
    id: r.id,
    type: r.type,
    matched: r.matched,
    weight: r.hop ? HOP_WEIGHT : 1,
  }));
}

/** A list's narrowing (the service validates and normalises it). */
export interface EntityFilter {
  type?: EntityType | undefined;
  userId?: string | undefined;
  agentId?: string | undefined;
  /** A normalised name fragment (entity-names.ts). */
  q?: string | undefined;
}

interface EntityRowDb {
  id: string;
  type: EntityType;
  name: string;
  aliases: string[];
  user_id: string | null;
  memory_count: number;
  created_at: Date;
  updated_at: Date;
}

const toEntity = (r: EntityRowDb): Entity => ({
  id: r.id,
  type: r.type,
  name: r.name,
  aliases: r.aliases,
  user_id: r.user_id,
  memory_count: Number(r.memory_count),
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
});

/** Current memories linked to entity `e` (a correlated count; $1 is the tenant). */
const MEMORY_COUNT = `(SELECT count(*) FROM memory_entities l
    JOIN memories m ON m.tenant_id = $1 AND m.id = l.memory_id AND m.valid_to IS NULL
    WHERE l.entity_id = e.id AND l.tenant_id = $1)::int`;

const ENTITY_COLUMNS = `e.id, e.type, e.name, e.aliases, e.user_id, e.created_at, e.updated_at,
  ${MEMORY_COUNT} AS memory_count`;

/** The memories columns a scope is listed by. */
const SCOPE_COLUMN: Record<ScopeEntityType, "user_id" | "agent_id" | "session_id"> = {
  user: "user_id",
  agent: "agent_id",
  session: "session_id",
};

const toMemory = (r: {
  id: string;
  memory: string;
  user_id: string | null;
  agent_id: string | null;
  session_id: string | null;
  valid_from: Date | null;
  created_at: Date;
}): EntityMemory => ({
  id: r.id,
  memory: r.memory,
  user_id: r.user_id,
  agent_id: r.agent_id,
  session_id: r.session_id,
  valid_from: r.valid_from ? r.valid_from.toISOString() : null,
  created_at: r.created_at.toISOString(),
});

/** Relations shown with an entity, newest first. */
const RELATIONS_SHOWN = 100;

/** SQL behind /v1/entities (migration 0016). Every method runs under RLS in one transaction. */
export function createEntityStore(db: Database) {
  return {
    /** findQueryEntities in a transaction of its own. */
    findQueryEntities: (tenantId: string, scope: EntityScope, query: string) =>
      db.readTenant(tenantId, (tx) => findQueryEntities(tx, tenantId, scope, query)),

    /** Named entities, newest first; the cursor is the last id seen. */
    listEntities: (
      tenantId: string,
      projectId: string,
      filter: EntityFilter,
      limit: number,
      before: string | undefined,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        const params: unknown[] = [tenantId, projectId];
        let where = "e.tenant_id = $1 AND e.project_id = $2";
        if (filter.type !== undefined) where += ` AND e.type = $${params.push(filter.type)}`;
        if (filter.userId !== undefined) {
          where += ` AND (e.user_id = $${params.push(filter.userId)} OR e.user_id IS NULL)`;
        }
        if (filter.agentId !== undefined) {
          where += ` AND EXISTS (SELECT 1 FROM memory_entities l
              JOIN memories m ON m.tenant_id = $1 AND m.id = l.memory_id
              WHERE l.entity_id = e.id AND l.tenant_id = $1 AND m.agent_id = $${params.push(filter.agentId)})`;
        }
        if (filter.q !== undefined) {
          where += ` AND EXISTS (SELECT 1 FROM entity_names n
              WHERE n.entity_id = e.id AND n.tenant_id = $1 AND strpos(n.name, $${params.push(filter.q)}) > 0)`;
        }
        if (before !== undefined) where += ` AND e.id < $${params.push(before)}`;
        const rows = await tx.query<EntityRowDb>(
          `SELECT ${ENTITY_COLUMNS} FROM entities e WHERE ${where}
           ORDER BY e.id DESC LIMIT $${params.push(limit + 1)}`,
          params,
        );
        return { rows: rows.slice(0, limit).map(toEntity), more: rows.length > limit };
      }),

    /**
     * The users, agents or sessions that have memories in the project, by id, with their count
     * of current memories; the cursor is the last id seen.
     */
    listScopes: (
      tenantId: string,
      projectId: string,
      type: ScopeEntityType,
      filter: { userId?: string | undefined; agentId?: string | undefined; q?: string },
      limit: number,
      after: string | undefined,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        const col = SCOPE_COLUMN[type];
        const params: unknown[] = [tenantId, projectId];
        let where = `m.tenant_id = $1 AND m.project_id = $2 AND m.${col} IS NOT NULL`;
        if (filter.userId !== undefined) where += ` AND m.user_id = $${params.push(filter.userId)}`;
        if (filter.agentId !== undefined) {
          where += ` AND m.agent_id = $${params.push(filter.agentId)}`;
        }
        if (filter.q !== undefined) {
          where += ` AND strpos(lower(m.${col}), $${params.push(filter.q.toLowerCase())}) > 0`;
        }
        if (after !== undefined) where += ` AND m.${col} > $${params.push(after)}`;
        const rows = await tx.query<{
          name: string;
          memory_count: number;
          created_at: Date;
          updated_at: Date;
        }>(
          `SELECT m.${col} AS name, count(*) FILTER (WHERE m.valid_to IS NULL)::int AS memory_count,
                  min(m.created_at) AS created_at, max(m.updated_at) AS updated_at
           FROM memories m WHERE ${where}
           GROUP BY m.${col} ORDER BY m.${col} LIMIT $${params.push(limit + 1)}`,
          params,
        );
        const entities: Entity[] = rows.slice(0, limit).map((r) => ({
          id: `${type}:${r.name}`,
          type,
          name: r.name,
          aliases: [],
          user_id: type === "user" ? r.name : null,
          memory_count: Number(r.memory_count),
          created_at: r.created_at.toISOString(),
          updated_at: r.updated_at.toISOString(),
        }));
        return { rows: entities, more: rows.length > limit, last: rows[limit - 1]?.name };
      }),

    /** A named entity with its newest current memories and its relations. */
    getEntity: (tenantId: string, projectId: string, id: string, memoryLimit: number) =>
      db.withTenant(tenantId, async (tx): Promise<EntityDetail | undefined> => {
        const [row] = await tx.query<EntityRowDb & { chunk_count: number }>(
          `SELECT ${ENTITY_COLUMNS},
                  (SELECT count(*) FROM chunk_entities l
                   WHERE l.entity_id = e.id AND l.tenant_id = $1)::int AS chunk_count
           FROM entities e WHERE e.tenant_id = $1 AND e.project_id = $2 AND e.id = $3`,
          [tenantId, projectId, id],
        );
        if (!row) return undefined;
        const memories = await tx.query<Parameters<typeof toMemory>[0]>(
          `SELECT m.id, m.memory, m.user_id, m.agent_id, m.session_id, m.valid_from, m.created_at
           FROM memory_entities l
           JOIN memories m ON m.tenant_id = $1 AND m.id = l.memory_id AND m.valid_to IS NULL
           WHERE l.entity_id = $2 AND l.tenant_id = $1
           ORDER BY m.id DESC LIMIT $3`,
          [tenantId, id, memoryLimit],
        );
        const relations = await tx.query<{
          id: string;
          predicate: string;
          memory_id: string | null;
          valid_from: Date;
          valid_to: Date | null;
          created_at: Date;
          s_id: string;
          s_type: EntityType;
          s_name: string;
          o_id: string;
          o_type: EntityType;
          o_name: string;
        }>(
          `SELECT r.id, r.predicate, r.memory_id, r.valid_from, r.valid_to, r.created_at,
                  s.id AS s_id, s.type AS s_type, s.name AS s_name,
                  o.id AS o_id, o.type AS o_type, o.name AS o_name
           FROM entity_relations r
           JOIN entities s ON s.tenant_id = $1 AND s.id = r.subject_id
           JOIN entities o ON o.tenant_id = $1 AND o.id = r.object_id
           WHERE r.tenant_id = $1 AND (r.subject_id = $2 OR r.object_id = $2)
           ORDER BY r.valid_from DESC, r.id DESC LIMIT ${RELATIONS_SHOWN}`,
          [tenantId, id],
        );
        return {
          ...toEntity(row),
          chunk_count: Number(row.chunk_count),
          memories: memories.map(toMemory),
          relations: relations.map(
            (r): EntityRelation => ({
              id: r.id,
              subject: { id: r.s_id, type: r.s_type, name: r.s_name },
              predicate: r.predicate,
              object: { id: r.o_id, type: r.o_type, name: r.o_name },
              memory_id: r.memory_id,
              valid_from: r.valid_from.toISOString(),
              valid_to: r.valid_to ? r.valid_to.toISOString() : null,
              created_at: r.created_at.toISOString(),
            }),
          ),
        };
      }),

    /** A user, agent or session as an entity: its count of current memories and the newest. */
    getScope: (
      tenantId: string,
      projectId: string,
      type: ScopeEntityType,
      key: string,
      memoryLimit: number,
    ) =>
      db.withTenant(tenantId, async (tx): Promise<EntityDetail | undefined> => {
        const col = SCOPE_COLUMN[type];
        const [summary] = await tx.query<{
          n: number;
          memory_count: number;
          created_at: Date | null;
          updated_at: Date | null;
        }>(
          `SELECT count(*)::int AS n, count(*) FILTER (WHERE valid_to IS NULL)::int AS memory_count,
                  min(created_at) AS created_at, max(updated_at) AS updated_at
           FROM memories WHERE tenant_id = $1 AND project_id = $2 AND ${col} = $3`,
          [tenantId, projectId, key],
        );
        if (!summary?.created_at || !summary.updated_at || Number(summary.n) === 0)
          return undefined;
        const memories = await tx.query<Parameters<typeof toMemory>[0]>(
          `SELECT id, memory, user_id, agent_id, session_id, valid_from, created_at FROM memories
           WHERE tenant_id = $1 AND project_id = $2 AND ${col} = $3 AND valid_to IS NULL
           ORDER BY id DESC LIMIT $4`,
          [tenantId, projectId, key, memoryLimit],
        );
        return {
          id: `${type}:${key}`,
          type,
          name: key,
          aliases: [],
          user_id: type === "user" ? key : null,
          memory_count: Number(summary.memory_count),
          created_at: summary.created_at.toISOString(),
          updated_at: summary.updated_at.toISOString(),
          chunk_count: 0,
          memories: memories.map(toMemory),
          relations: [],
        };
      }),

    /**
     * Deletes a named entity with its links and relations (the memories and chunks stay), under
     * the project's entity lock; `hook` runs in the same transaction (the audit row). Undefined
     * when there is no such entity.
     */
    deleteEntity: (
      tenantId: string,
      projectId: string,
      id: string,
      hook?: (tx: Queryable, removed: EntityRemoval) => Promise<void>,
    ) =>
      db.withTenant(tenantId, async (tx): Promise<EntityRemoval | undefined> => {
        await lockEntities(tx, tenantId, projectId);
        const [found] = await tx.query(
          "SELECT id FROM entities WHERE tenant_id = $1 AND project_id = $2 AND id = $3",
          [tenantId, projectId, id],
        );
        if (!found) return undefined;
        const count = async (sql: string) => (await tx.query(sql, [tenantId, id])).length;
        const removed: EntityRemoval = {
          memory_links: await count(
            "DELETE FROM memory_entities WHERE entity_id = $2 AND tenant_id = $1 RETURNING 1",
          ),
          chunk_links: await count(
            "DELETE FROM chunk_entities WHERE entity_id = $2 AND tenant_id = $1 RETURNING 1",
          ),
          relations: await count(
            `DELETE FROM entity_relations WHERE tenant_id = $1 AND (subject_id = $2 OR object_id = $2)
             RETURNING 1`,
          ),
        };
        await tx.query("DELETE FROM entities WHERE tenant_id = $1 AND id = $2", [tenantId, id]);
        await hook?.(tx, removed);
        return removed;
      }),
  };
}
export type EntityStore = ReturnType<typeof createEntityStore>;

/** What deleting a named entity removed besides it. */
export interface EntityRemoval {
  memory_links: number;
  chunk_links: number;
  relations: number;
}
