import type { Database } from "./database.ts";
import { MIGRATION_LOCK } from "./migrate.ts";

export interface EmbeddingModel {
  id: string;
  dimension: number;
}

/** The name of a model's HNSW index (also validates what goes into its DDL). */
export function vectorIndexName(model: EmbeddingModel): string {
  if (!/^[A-Za-z0-9._:/-]{1,100}$/.test(model.id) || !Number.isInteger(model.dimension)) {
    throw new Error(`Unsupported embedding model id ${JSON.stringify(model.id)}`);
  }
  return `memories_hnsw_${model.id.replace(/[^A-Za-z0-9]/g, "_").toLowerCase()}_${model.dimension}`.slice(
    0,
    63,
  );
}

/**
 * HNSW needs a fixed dimension, while the vector column holds any model's vectors. Each model gets
 * a partial expression index over its own rows (pgvector's documented pattern), built once, under
 * the migration lock so processes starting together do not race to create it.
 */
export async function ensureVectorIndex(db: Database, model: EmbeddingModel): Promise<string> {
  const name = vectorIndexName(model);
  await db.asOwner(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await tx.exec(
      `CREATE INDEX IF NOT EXISTS ${name} ON memories
       USING hnsw ((embedding::vector(${model.dimension})) vector_cosine_ops)
       WHERE embedding_model = '${model.id}'`,
    );
  });
  return name;
}

/** Whether the model's HNSW index exists (readable by the application role). */
export async function hasVectorIndex(db: Database, model: EmbeddingModel): Promise<boolean> {
  const rows = await db.withoutTenant((tx) =>
    tx.query("SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1", [
      vectorIndexName(model),
    ]),
  );
  return rows.length > 0;
}
