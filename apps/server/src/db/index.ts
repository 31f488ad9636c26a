// @engram/server/db: the database interface, its PGlite and PostgreSQL adapters, and migrations.
export type { Database, Queryable } from "./database.ts";
export { migrate } from "./migrate.ts";
export { openPGliteDatabase } from "./pglite-database.ts";
export { openPostgresDatabase, type PostgresOptions } from "./postgres-database.ts";
export { type EmbeddingModel, ensureVectorIndex, vectorIndexName } from "./vector-index.ts";
