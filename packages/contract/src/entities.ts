import Type, { type Static } from "typebox";
import { DateTime, PrefixedId, ScopeId } from "./common.ts";
import { MemoryId } from "./memories.ts";

/** What a named entity can be (docs/entities.md says how each is recognised). */
export const ENTITY_TYPES = [
  "person",
  "place",
  "organization",
  "product",
  "date",
  "event",
  "other",
] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

/** The scopes that have memories, listed as entities the way mem0's entities API lists them. */
export const SCOPE_ENTITY_TYPES = ["user", "agent", "session"] as const;
export type ScopeEntityType = (typeof SCOPE_ENTITY_TYPES)[number];

/** Longest entity name or alias, in characters. */
export const ENTITY_NAME_MAX = 200;

const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Count = Type.Integer({ minimum: 0 });
const AnyEntityType = Type.Enum([...ENTITY_TYPES, ...SCOPE_ENTITY_TYPES] as const);

export const EntityId = Type.String({
  minLength: 1,
  maxLength: 200,
  description: "ent_… for a named entity; user:<user_id>, agent:<agent_id> or session:<session_id>",
});

export const ListEntitiesQuery = Type.Object(
  {
    type: Type.Optional(
      Type.Enum([...ENTITY_TYPES, ...SCOPE_ENTITY_TYPES] as const, {
        description:
          "One type of named entity, or user, agent or session to list the scope ids that have memories; without it, named entities of every type",
      }),
    ),
    user_id: Type.Optional(ScopeId),
    agent_id: Type.Optional(ScopeId),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: ENTITY_NAME_MAX,
        description: "Part of the name or of an alias, any case",
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String({ maxLength: 400 })),
  },
  { additionalProperties: false },
);
export type ListEntitiesQuery = Static<typeof ListEntitiesQuery>;

export const Entity = Type.Object(
  {
    id: EntityId,
    type: AnyEntityType,
    name: Type.String(),
    aliases: Type.Array(Type.String()),
    user_id: Nullable(
      Type.String({
        description:
          "The end user it belongs to; null when shared by the project (knowledge, memories without a user)",
      }),
    ),
    memory_count: Type.Integer({
      minimum: 0,
      description: "Current memories that mention it (or, for a scope, that it has)",
    }),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: "Entity" },
);
export type Entity = Static<typeof Entity>;

export const ListEntitiesResponse = Type.Object(
  { results: Type.Array(Entity), next_cursor: Nullable(Type.String()) },
  { title: "ListEntitiesResponse" },
);
export type ListEntitiesResponse = Static<typeof ListEntitiesResponse>;

export const EntityIdParams = Type.Object({ id: EntityId });

export const GetEntityQuery = Type.Object(
  {
    memory_limit: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 100,
        default: 20,
        description: "How many of its current memories to return, newest first",
      }),
    ),
  },
  { additionalProperties: false },
);
export type GetEntityQuery = Static<typeof GetEntityQuery>;

const EntityRef = Type.Object({ id: EntityId, type: AnyEntityType, name: Type.String() });

export const EntityRelation = Type.Object(
  {
    id: PrefixedId("rel"),
    subject: EntityRef,
    predicate: Type.String({ description: "snake_case, e.g. lives_in, works_at" }),
    object: EntityRef,
    memory_id: Nullable(MemoryId),
    valid_from: DateTime,
    valid_to: Nullable(DateTime),
    created_at: DateTime,
  },
  { title: "EntityRelation" },
);
export type EntityRelation = Static<typeof EntityRelation>;

export const EntityMemory = Type.Object({
  id: MemoryId,
  memory: Type.String(),
  user_id: Nullable(Type.String()),
  agent_id: Nullable(Type.String()),
  session_id: Nullable(Type.String()),
  valid_from: Nullable(DateTime),
  created_at: DateTime,
});
export type EntityMemory = Static<typeof EntityMemory>;

export const EntityDetail = Type.Object(
  {
    ...Entity.properties,
    chunk_count: Type.Integer({
      minimum: 0,
      description: "Knowledge chunks that mention it",
    }),
    memories: Type.Array(EntityMemory, {
      description: "Its newest current memories (memory_limit of memory_count)",
    }),
    relations: Type.Array(EntityRelation, {
      description:
        "Relations it is the subject or object of, newest first (at most 100), past ones with valid_to",
    }),
  },
  { title: "EntityDetail" },
);
export type EntityDetail = Static<typeof EntityDetail>;

export const DeleteEntityResponse = Type.Object(
  {
    id: EntityId,
    deleted: Type.Boolean(),
    memories: Type.Integer({
      minimum: 0,
      description: "Memories deleted: only for agent:… and session:… (a named entity's are kept)",
    }),
    memory_links: Count,
    chunk_links: Count,
    relations: Count,
  },
  { title: "DeleteEntityResponse" },
);
export type DeleteEntityResponse = Static<typeof DeleteEntityResponse>;
