// mem0's open-source engine (the mem0ai package's OSS `Memory`, pinned) set up for the peers
// benchmark: Engram's local USE-Lite embedder plugged in as its embedder, adds with `infer: false`
// (verbatim, no LLM), and its own stores. What had to be worked around, and why, is in ADR 0042.
import { rmSync } from "node:fs";
import { createRequire, registerHooks } from "node:module";
import type { Embedder } from "@engram/server/embeddings";
import { tempDir } from "@engram/server/testing";
import type { TurnSearch } from "./locomo.ts";

/** Which SQLite binding mem0's default stores run on in this process. */
export let sqliteBinding = "";

/**
 * mem0ai's OSS build imports better-sqlite3 (a native module the project does not install, ADR
 * 0037) at load; when it is absent, that import resolves to a small adapter over Node's built-in
 * node:sqlite, for this process only. Telemetry off (mem0's own switch, read at load) and mem0's
 * config directory in a temporary folder, so nothing leaves the machine or lands in ~/.mem0.
 */
async function loadMem0(home: string) {
  process.env.MEM0_TELEMETRY = "false";
  process.env.MEM0_DIR = home;
  if (!sqliteBinding) {
    const fromMem0 = createRequire(createRequire(import.meta.url).resolve("mem0ai/oss"));
    try {
      fromMem0.resolve("better-sqlite3");
      sqliteBinding = "better-sqlite3 (installed)";
    } catch {
      const shim = new URL("./node-sqlite-shim.ts", import.meta.url).href;
      registerHooks({
        resolve: (specifier, context, next) =>
          specifier === "better-sqlite3"
            ? { url: shim, shortCircuit: true }
            : next(specifier, context),
      });
      sqliteBinding = `node:sqlite (SQLite ${process.versions.sqlite}) through bench/lib/node-sqlite-shim.ts`;
    }
  }
  return import("mem0ai/oss");
}

export interface Mem0Engine {
  add(text: string, userId: string, diaId: string): Promise<void>;
  search: TurnSearch<string>;
  close(): Promise<void>;
}

/** The stores mem0 runs on: its default (SQLite files), or its pgvector store on `url`. */
export type Mem0Store = { kind: "default" } | { kind: "pgvector"; url: string };

/** A mem0 OSS `Memory` embedding with `embedder`, on `store`, with history in its SQLite default. */
export async function openMem0(embedder: Embedder, store: Mem0Store): Promise<Mem0Engine> {
  const dir = tempDir("engram-peers-mem0-");
  const { Memory } = await loadMem0(dir);
  // mem0's "langchain" embedder takes any object with embedQuery/embedDocuments: the way to
  // plug in an embedder of one's own.
  const model = {
    embedQuery: async (text: string) => Array.from((await embedder.embed([text]))[0] ?? []),
    embedDocuments: async (texts: string[]) =>
      (await embedder.embed(texts)).map((v) => Array.from(v)),
  };
  const dimension = embedder.dimension;
  const memory = new Memory({
    embedder: { provider: "langchain", config: { model, embeddingDims: dimension } },
    vectorStore:
      store.kind === "default"
        ? // mem0's default provider ("memory"): a SQLite file (default ~/.mem0/vector_store.db).
          { provider: "memory", config: { dimension, dbPath: `${dir}/vector_store.db` } }
        : {
            provider: "pgvector",
            config: { connectionString: store.url, embeddingModelDims: dimension, dimension },
          },
    // Required by the config; never called with infer off. Pointed at a closed local port so an
    // unexpected call fails at once instead of reaching a hosted service.
    llm: {
      provider: "openai",
      config: { apiKey: "unused", baseURL: "http://127.0.0.1:9/v1", model: "never-called" },
    },
    // mem0's default history store (SQLite; default ./memory.db), kept on as by default.
    historyStore: { provider: "sqlite", config: { historyDbPath: `${dir}/history.db` } },
  });
  return {
    async add(text, userId, diaId) {
      await memory.add(text, { userId, infer: false, metadata: { dia_id: diaId } });
    },
    async search(query, userId) {
      // threshold 0: every candidate up to topK, as Engram returns them (mem0's default cuts at 0.1).
      const { results } = await memory.search(query, {
        topK: 25,
        threshold: 0,
        filters: { user_id: userId },
      });
      return results.map((r) => [String(r.metadata?.dia_id)]);
    },
    async close() {
      // mem0's Memory has no close(); its pgvector stores each hold a pg client open.
      const inner = memory as unknown as Record<string, { close?: () => unknown } | undefined>;
      for (const key of ["vectorStore", "_entityStore", "db"]) await inner[key]?.close?.();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
