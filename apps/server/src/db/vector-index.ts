import type { Database } from "./database.ts";

/**
 * HNSW needs a fixed dimension, while the vector column holds any model's vectors. Each model gets
 * a partial expression index over its own rows (pgvector's documented pattern), built once.
 */
export async function ensureVectorIndex(db: Database, model: { id: string; dimension: number }) {
  if (!/^[A-Za-z0-9._:/-]{1,100}$/.test(model.id) || !Number.isInteger(model.dimension)) {
    throw new Error(`Unsupported embedding model id ${JSON.stringify(model.id)}`);
  }
  const name =
    `memories_hnsw_${model.id.replace(/[^A-Za-z0-9]/g, "_").toLowerCase()}_${model.dimension}`.slice(
      0,
      63,
    );
  await db.asOwner((tx) =>
    tx.exec(
      `CREATE INDEX IF NOT EXISTS ${name} ON memories
       USING hnsw ((embedding::vector(${model.dimension})) vector_cosine_ops)
       WHERE embedding_model = '${model.id}'`,
    ),
  );
}
