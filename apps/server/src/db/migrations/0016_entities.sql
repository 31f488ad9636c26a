-- Entities (docs/decisions/0029-entities.md): the people, places, organisations, products, dates
-- and events memories and knowledge chunks mention, per project and per end user, with the
-- memories and chunks that mention them and the relations between them (subject, predicate,
-- object) with their validity. Written by the memory and knowledge write paths in the transaction
-- that writes the memory or chunk; existing memories are not backfilled (extraction is NLP, which
-- a migration cannot run).
--
-- Every lookup the application makes under row-level security uses = (leakproof) on B-tree
-- indexes: PostgreSQL will not use an index for a non-leakproof operator (array overlap, LIKE)
-- on a table with row-level security (see 0004_memory_terms.sql).

CREATE TABLE entities (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  -- The end user whose memories mention it (their personal data); NULL: shared by the project
  -- (knowledge without a user, memories without a user).
  user_id text,
  type text NOT NULL
    CHECK (type IN ('person', 'place', 'organization', 'product', 'date', 'event', 'other')),
  -- As first written (display); dates are ISO 8601 ("2023-05-07", "2023-05", "2023").
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- Lower case, punctuation and a leading article dropped (entities/entity-names.ts): what
  -- mentions are matched on.
  normalized text NOT NULL CHECK (length(normalized) BETWEEN 1 AND 200),
  -- Other forms it is known by ("Smith" for "Dr. Smith", "7 May 2023" for 2023-05-07).
  aliases text[] NOT NULL DEFAULT '{}' CHECK (cardinality(aliases) <= 20),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- One entity per owner, name and type. Led by the name, so linking finds a mention's candidates
-- (any type) of an owner with one index lookup.
CREATE UNIQUE INDEX entities_name
  ON entities (tenant_id, project_id, normalized, (coalesce(user_id, '')), type);
-- Lists page by id (time-sortable) within a project.
CREATE INDEX entities_tenant_project_id ON entities (tenant_id, project_id, id);

-- Every normalised form an entity is matched by: its name and each alias, with its owner ('' for
-- shared), so "the entities of this user (and shared ones) a query names" is one index lookup.
CREATE TABLE entity_names (
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  project_id text NOT NULL,
  name text NOT NULL,
  owner text NOT NULL,
  entity_id text NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
  PRIMARY KEY (tenant_id, project_id, name, owner, entity_id)
);
-- The foreign key's cascade looks rows up by entity_id alone.
CREATE INDEX entity_names_entity ON entity_names (entity_id);

-- Which memories mention which entities. The memory's own key comes first (a memory's links, and
-- the cascade when it is deleted); entity_id leads the second index, which serves both the
-- cascade when an entity is deleted (by entity_id alone) and "memories linked to these entities"
-- (tenant_id = $1 AND entity_id = ANY($2)).
CREATE TABLE memory_entities (
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  memory_id text NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
  entity_id text NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
  -- 'speaker': the memory is what this person said (a message's name, a transcript label);
  -- 'mention': it names them. Ranking weighs a speaker link above a mention (ADR 0033).
  role text NOT NULL DEFAULT 'mention' CHECK (role IN ('speaker', 'mention')),
  PRIMARY KEY (memory_id, entity_id)
);
CREATE INDEX memory_entities_entity ON memory_entities (entity_id, tenant_id);

-- The same for knowledge chunks (linked at ingest; a re-indexed document's chunks are replaced).
CREATE TABLE chunk_entities (
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  chunk_id text NOT NULL REFERENCES knowledge_chunks (id) ON DELETE CASCADE,
  entity_id text NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
  PRIMARY KEY (chunk_id, entity_id)
);
CREATE INDEX chunk_entities_entity ON chunk_entities (entity_id, tenant_id);

-- subject –predicate→ object, true over [valid_from, valid_to). A relation read from a memory
-- goes with it: deleted with it, and closed (valid_to) when the memory is superseded or
-- invalidated, at the same instant.
CREATE TABLE entity_relations (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  user_id text,
  subject_id text NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
  predicate text NOT NULL CHECK (predicate ~ '^[a-z][a-z0-9_]{0,63}$'),
  object_id text NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
  memory_id text REFERENCES memories (id) ON DELETE CASCADE,
  valid_from timestamptz NOT NULL,
  valid_to timestamptz CHECK (valid_to IS NULL OR valid_to >= valid_from),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entity_relations_subject ON entity_relations (subject_id, tenant_id);
CREATE INDEX entity_relations_object ON entity_relations (object_id, tenant_id);
CREATE INDEX entity_relations_memory ON entity_relations (memory_id) WHERE memory_id IS NOT NULL;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['entities', 'entity_names', 'memory_entities', 'chunk_entities',
                           'entity_relations'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_setting(''app.tenant_id'', true)) '
      'WITH CHECK (tenant_id = current_setting(''app.tenant_id'', true))', t);
  END LOOP;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE
  ON entities, entity_names, memory_entities, chunk_entities, entity_relations TO engram_app;
