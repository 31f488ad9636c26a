import type { Database } from "./database.ts";
import { MIGRATION_LOCK } from "./migrate.ts";

export interface EmbeddingModel {
  id: string;
  dimension: number;
}

/** The tables whose rows carry an embedding and get a per-model HNSW index. */
type VectorTable = "memories" | "knowledge_chunks";

/** The name of a model's HNSW index on a table (also validates what goes into its DDL). */
export function vectorIndexName(model: EmbeddingModel, table: VectorTable = "memories"): string {
  if (!/^[A-Za-z0-9._:/-]{1,100}$/.test(model.id) || !Number.isInteger(model.dimension)) {
    throw new Error(`Unsupported embedding model id ${JSON.stringify(model.id)}`);
  }
  return `${table}_hnsw_${model.id.replace(/[^A-Za-z0-9]/g, "_").toLowerCase()}_${model.dimension}`.slice(
    0,
    63,
  );
}

const VECTOR_TABLES: readonly VectorTable[] = ["memories", "knowledge_chunks"];

/**
 * HNSW needs a fixed dimension, while the vector column holds any model's vectors. Each model gets
 * a partial expression index over its own rows (pgvector's documented pattern) on memories and on
 * knowledge chunks, built once, under the migration lock so processes starting together do not
 * race to create it. Returns the memories index's name.
 */
export async function ensureVectorIndex(db: Database, model: EmbeddingModel): Promise<string> {
  await db.asOwner(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    for (const table of VECTOR_TABLES) {
      await tx.exec(
        `CREATE INDEX IF NOT EXISTS ${vectorIndexName(model, table)} ON ${table}
         USING hnsw ((embedding::vector(${model.dimension})) vector_cosine_ops)
         WHERE embedding_model = '${model.id}'`,
      );
    }
  });
  return vectorIndexName(model);
}

/** Whether the model's HNSW indexes exist (readable by the application role). */
export async function hasVectorIndex(db: Database, model: EmbeddingModel): Promise<boolean> {
  const names = VECTOR_TABLES.map((table) => vectorIndexName(model, table));
  const rows = await db.withoutTenant((tx) =>
    tx.query(
      "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ANY($1)",
      [names],
    ),
  );
  return rows.length === names.length;
}
