import { ENTITY_NAME_MAX, type EntityType } from "@engram/contract";
import type { Queryable } from "../db/database.ts";
import type { Extraction } from "../inference/engine.ts";
import { newId } from "../lib/ids.ts";
import { normalizeName } from "./entity-names.ts";

/**
 * Entity writes, run inside the transaction that writes the memories or chunks they describe
 * (ADR 0029). Extraction happens before, outside the transaction; these only upsert entities, link
 * them and store relations.
 *
 * Every entity write of a project takes one transaction-scoped advisory lock first (lockEntities),
 * so deciding "is there already a Berlin of this user?", turning an `other` into a `place` and
 * deleting entities nothing links to any more never race. Transactions take it after their memory
 * and document row locks and before the tenant's usage row, the order every path keeps, so it
 * cannot deadlock; it is held only for the tail of the transaction.
 */

/** Most aliases an entity keeps (the table's limit). */
const ENTITY_ALIASES_MAX = 20;
const PREDICATE = /^[a-z][a-z0-9_]{0,63}$/;

/** What one memory or chunk mentions, and whose it is (the memory's user_id; null: shared). */
export interface EntityLinks {
  id: string;
  owner: string | null;
  extraction: Extraction;
}

/** Takes the project's entity lock for the rest of the transaction (see above). */
export async function lockEntities(tx: Queryable, tenantId: string, projectId: string) {
  await tx.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
    `entities\x1f${tenantId}\x1f${projectId}`,
  ]);
}

interface Known {
  id: string;
  owner: string;
  type: EntityType;
  normalized: string;
  aliases: string[];
  state: "stored" | "new" | "changed";
  /** A new entity's display name. */
  name?: string;
}

/** Merges aliases into an entity's; true when one was added. */
function mergeAliases(entity: Known, aliases: readonly string[]): boolean {
  let added = false;
  const have = new Set([entity.normalized, ...entity.aliases.map(normalizeName)]);
  for (const alias of aliases) {
    const key = normalizeName(alias);
    if (key === "" || have.has(key) || alias.length > ENTITY_NAME_MAX) continue;
    if (entity.aliases.length >= ENTITY_ALIASES_MAX) break;
    entity.aliases.push(alias);
    have.add(key);
    added = true;
  }
  return added;
}

/**
 * The entity of each item's mentions, found or created: per owner, one entity per name and type.
 * A mention typed `other` joins a typed entity of the same name; a typed mention turns an `other`
 * of its name into its type. Returns, per item, the entity id of each mention (or undefined), and
 * the entities to create and to change (writeLinks writes them).
 */
async function resolve(
  tx: Queryable,
  tenantId: string,
  projectId: string,
  items: readonly EntityLinks[],
): Promise<{ ids: (string | undefined)[][]; created: Known[]; changed: Known[] }> {
  type Want = { item: number; at: number; owner: string; type: EntityType; name: string };
  const wants: Want[] = [];
  items.forEach((item, i) => {
    item.extraction.entities.forEach((m, at) => {
      wants.push({ item: i, at, owner: item.owner ?? "", type: m.type, name: m.name.trim() });
    });
  });
  const keyed = wants
    .map((w) => ({ ...w, normalized: normalizeName(w.name) }))
    .filter((w) => w.normalized !== "" && w.name.length <= ENTITY_NAME_MAX);
  const ids: (string | undefined)[][] = items.map((item) =>
    item.extraction.entities.map(() => undefined),
  );
  if (keyed.length === 0) return { ids, created: [], changed: [] };

  const pairs = [...new Map(keyed.map((w) => [`${w.owner}\x1f${w.normalized}`, w])).values()];
  const stored = await tx.query<Omit<Known, "state" | "name">>(
    `SELECT e.id, coalesce(e.user_id, '') AS owner, e.type, e.normalized, e.aliases
     FROM unnest($3::text[], $4::text[]) AS d(owner, normalized)
     JOIN entities e ON e.tenant_id = $1 AND e.project_id = $2
      AND e.normalized = d.normalized AND coalesce(e.user_id, '') = d.owner
     ORDER BY e.id`,
    [tenantId, projectId, pairs.map((p) => p.owner), pairs.map((p) => p.normalized)],
  );
  const groups = new Map<string, Known[]>();
  const group = (owner: string, normalized: string) => {
    const key = `${owner}\x1f${normalized}`;
    const list = groups.get(key) ?? [];
    groups.set(key, list);
    return list;
  };
  for (const row of stored) group(row.owner, row.normalized).push({ ...row, state: "stored" });

  // Typed mentions first, so an `other` of the same request joins the type they give.
  const ordered = [...keyed].sort(
    (a, b) => Number(a.type === "other") - Number(b.type === "other"),
  );
  const byIndex = new Map<string, Known>();
  for (const w of ordered) {
    const list = group(w.owner, w.normalized);
    let entity: Known | undefined =
      w.type === "other"
        ? (list.find((e) => e.type !== "other") ?? list.find((e) => e.type === "other"))
        : list.find((e) => e.type === w.type);
    if (!entity && w.type !== "other") {
      entity = list.find((e) => e.type === "other");
      if (entity) {
        entity.type = w.type;
        if (entity.state === "stored") entity.state = "changed";
      }
    }
    if (!entity) {
      entity = {
        id: newId("ent"),
        owner: w.owner,
        type: w.type,
        normalized: w.normalized,
        aliases: [],
        state: "new",
        name: w.name,
      };
      list.push(entity);
    }
    const mention = items[w.item]?.extraction.entities[w.at];
    if (mergeAliases(entity, mention?.aliases ?? []) && entity.state === "stored") {
      entity.state = "changed";
    }
    byIndex.set(`${w.item}:${w.at}`, entity);
  }

  for (const [key, entity] of byIndex) {
    const [item, at] = key.split(":").map(Number) as [number, number];
    (ids[item] as (string | undefined)[])[at] = entity.id;
  }
  const all = [...groups.values()].flat();
  return {
    ids,
    created: all.filter((e) => e.state === "new"),
    changed: all.filter((e) => e.state === "changed"),
  };
}

/**
 * Writes what resolve decided and the links, in one statement (an add pays one round trip for
 * its entities, whatever they are): new entities, changed types and aliases, the names they are
 * matched by, and the item's links.
 */
async function writeLinks(
  tx: Queryable,
  tenantId: string,
  projectId: string,
  resolved: { created: Known[]; changed: Known[] },
  kind: "memory" | "chunk",
  links: readonly (readonly [string, string, "speaker" | "mention"])[],
) {
  const { created, changed } = resolved;
  const named = [...created, ...changed].flatMap((e) =>
    [...new Set([e.normalized, ...e.aliases.map(normalizeName)])]
      .filter((n) => n !== "")
      .map((name) => ({ name, e })),
  );
  await tx.query(
    `WITH created AS (
       INSERT INTO entities (id, tenant_id, project_id, user_id, type, name, normalized, aliases)
       SELECT d.id, $1, $2, nullif(d.owner, ''), d.type, d.name, d.normalized,
              ARRAY(SELECT jsonb_array_elements_text(d.aliases))
       FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[])
         AS d(id, owner, type, name, normalized, aliases)
     ), changed AS (
       UPDATE entities e SET type = d.type, aliases = ARRAY(SELECT jsonb_array_elements_text(d.aliases)),
              updated_at = now()
       FROM unnest($9::text[], $10::text[], $11::jsonb[]) AS d(id, type, aliases)
       WHERE e.tenant_id = $1 AND e.id = d.id
     ), named AS (
       INSERT INTO entity_names (tenant_id, project_id, name, owner, entity_id)
       SELECT $1, $2, d.name, d.owner, d.entity_id
       FROM unnest($12::text[], $13::text[], $14::text[]) AS d(name, owner, entity_id)
       ON CONFLICT DO NOTHING
     )
     INSERT INTO ${kind}_entities (tenant_id, ${kind}_id, entity_id${kind === "memory" ? ", role" : ""})
     SELECT $1, d.item_id, d.entity_id${kind === "memory" ? ", d.role" : ""}
     FROM unnest($15::text[], $16::text[], $17::text[]) AS d(item_id, entity_id, role)
     ON CONFLICT DO NOTHING`,
    [
      tenantId,
      projectId,
      created.map((e) => e.id),
      created.map((e) => e.owner),
      created.map((e) => e.type),
      created.map((e) => e.name),
      created.map((e) => e.normalized),
      created.map((e) => JSON.stringify(e.aliases)),
      changed.map((e) => e.id),
      changed.map((e) => e.type),
      changed.map((e) => JSON.stringify(e.aliases)),
      named.map((n) => n.name),
      named.map((n) => n.e.owner),
      named.map((n) => n.e.id),
      links.map((l) => l[0]),
      links.map((l) => l[1]),
      links.map((l) => l[2]),
    ],
  );
}

/**
 * Under the lock, resolves the mentions of the items that have any and links each item (a memory
 * or a chunk) to its entities; returns those items with their mentions' entity ids.
 */
async function link(
  tx: Queryable,
  tenantId: string,
  projectId: string,
  items: readonly EntityLinks[],
  kind: "memory" | "chunk",
) {
  const mentioning = items.filter((i) => i.extraction.entities.length > 0);
  if (mentioning.length === 0) return { mentioning, ids: [] };
  await lockEntities(tx, tenantId, projectId);
  const resolved = await resolve(tx, tenantId, projectId, mentioning);
  const { ids } = resolved;
  const links = mentioning.flatMap((item, i) => {
    // One link per entity: a speaker's, when one of the mentions that resolved to it is.
    const roles = new Map<string, "speaker" | "mention">();
    (ids[i] ?? []).forEach((id, at) => {
      if (id === undefined) return;
      const speaker = item.extraction.entities[at]?.speaker === true;
      if (speaker || !roles.has(id)) roles.set(id, speaker ? "speaker" : "mention");
    });
    return [...roles].map(([e, role]) => [item.id, e, role] as const);
  });
  await writeLinks(tx, tenantId, projectId, resolved, kind, links);
  return { mentioning, ids };
}

/** A model's predicate as stored: snake_case, at most 64 characters; "" when it has no letter. */
function predicateOf(raw: string): string {
  const p = raw
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^[_0-9]+|_+$/g, "")
    .slice(0, 64)
    .replace(/_+$/, "");
  return PREDICATE.test(p) ? p : "";
}

/**
 * Links memories to the entities they mention (creating them) and stores the relations they
 * state, each valid from the relation's own date or else the memory's valid_from. Takes the lock.
 */
export async function linkMemories(
  tx: Queryable,
  tenantId: string,
  projectId: string,
  items: readonly EntityLinks[],
): Promise<void> {
  const { mentioning, ids } = await link(tx, tenantId, projectId, items, "memory");
  const relations = mentioning.flatMap((item, i) =>
    item.extraction.relations.flatMap((r) => {
      const subject = ids[i]?.[r.subject];
      const object = ids[i]?.[r.object];
      const predicate = predicateOf(r.predicate);
      if (!subject || !object || subject === object || predicate === "") return [];
      return [
        {
          memoryId: item.id,
          subject,
          predicate,
          object,
          validFrom: r.validFrom ?? null,
          validTo: r.validTo ?? null,
        },
      ];
    }),
  );
  if (relations.length > 0) {
    // The relation's user is its memory's; its validity defaults to the memory's.
    await tx.query(
      `INSERT INTO entity_relations (id, tenant_id, project_id, user_id, subject_id, predicate, object_id,
                                     memory_id, valid_from, valid_to)
       SELECT d.id, $1, $2, m.user_id, d.subject_id, d.predicate, d.object_id, m.id,
              coalesce(d.valid_from, m.valid_from),
              -- greatest() skips nulls: an open end must stay null.
              CASE WHEN coalesce(d.valid_to, m.valid_to) IS NOT NULL
                   THEN greatest(coalesce(d.valid_from, m.valid_from), coalesce(d.valid_to, m.valid_to))
              END
       FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[],
                   $9::timestamptz[])
         AS d(id, memory_id, subject_id, predicate, object_id, valid_from, valid_to)
       JOIN memories m ON m.tenant_id = $1 AND m.id = d.memory_id`,
      [
        tenantId,
        projectId,
        relations.map(() => newId("rel")),
        relations.map((r) => r.memoryId),
        relations.map((r) => r.subject),
        relations.map((r) => r.predicate),
        relations.map((r) => r.object),
        relations.map((r) => r.validFrom),
        relations.map((r) => r.validTo),
      ],
    );
  }
}

/** Links knowledge chunks to the entities they mention (creating them). Takes the lock. */
export async function linkChunks(
  tx: Queryable,
  tenantId: string,
  projectId: string,
  items: readonly EntityLinks[],
): Promise<void> {
  await link(tx, tenantId, projectId, items, "chunk");
}

/**
 * A memory's text was replaced: its links and relations are replaced by the new text's, and the
 * entities it alone mentioned go. Takes the lock.
 */
export async function relinkMemory(
  tx: Queryable,
  tenantId: string,
  projectId: string,
  item: EntityLinks,
): Promise<void> {
  await lockEntities(tx, tenantId, projectId);
  const old = await tx.query<{ entity_id: string }>(
    "DELETE FROM memory_entities WHERE tenant_id = $1 AND memory_id = $2 RETURNING entity_id",
    [tenantId, item.id],
  );
  await tx.query("DELETE FROM entity_relations WHERE tenant_id = $1 AND memory_id = $2", [
    tenantId,
    item.id,
  ]);
  await linkMemories(tx, tenantId, projectId, [item]);
  await dropUnlinkedEntities(
    tx,
    tenantId,
    projectId,
    old.map((o) => o.entity_id),
  );
}

/**
 * Closes the open relations read from these memories when they stop being current (superseded or
 * invalidated), at the instant the memory's validity ends (never before a relation began).
 */
export async function closeRelations(
  tx: Queryable,
  tenantId: string,
  projectId: string,
  closes: readonly { memoryId: string; validTo: string }[],
): Promise<void> {
  if (closes.length === 0) return;
  await lockEntities(tx, tenantId, projectId);
  await tx.query(
    `UPDATE entity_relations r SET valid_to = greatest(r.valid_from, d.valid_to)
     FROM unnest($2::text[], $3::timestamptz[]) AS d(memory_id, valid_to)
     WHERE r.tenant_id = $1 AND r.memory_id = d.memory_id AND r.valid_to IS NULL`,
    [tenantId, closes.map((c) => c.memoryId), closes.map((c) => c.validTo)],
  );
}

/**
 * Deletes those of these entities no memory or chunk links to any more (after the memories or
 * chunks that mentioned them were deleted): a forgotten memory does not leave its names behind.
 * Takes the lock.
 */
export async function dropUnlinkedEntities(
  tx: Queryable,
  tenantId: string,
  projectId: string,
  entityIds: readonly string[],
): Promise<number> {
  const ids = [...new Set(entityIds)];
  if (ids.length === 0) return 0;
  await lockEntities(tx, tenantId, projectId);
  const gone = await tx.query(
    `DELETE FROM entities e
     WHERE e.tenant_id = $1 AND e.project_id = $2 AND e.id = ANY($3::text[])
       AND NOT EXISTS (SELECT 1 FROM memory_entities l WHERE l.entity_id = e.id AND l.tenant_id = $1)
       AND NOT EXISTS (SELECT 1 FROM chunk_entities l WHERE l.entity_id = e.id AND l.tenant_id = $1)
     RETURNING e.id`,
    [tenantId, projectId, ids],
  );
  return gone.length;
}
