import Type, { type Static } from "typebox";

/** The chat engine's environment variables (merged into the one env schema in config.ts). */
export const chatEnv = {
  ENGRAM_CHAT_ENGINE: Type.Optional(Type.Enum(["auto", "extractive"] as const)),
  ENGRAM_CHAT_CACHE_SIMILARITY: Type.Optional(Type.Number({ minimum: 0.5, maximum: 1 })),
  ENGRAM_CHAT_CACHE_SIZE: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  ENGRAM_CHAT_FIRST_TOKEN_TIMEOUT_MS: Type.Optional(
    Type.Integer({ minimum: 100, maximum: 600_000 }),
  ),
  ENGRAM_CHAT_STALL_TIMEOUT_MS: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
};
type ChatEnv = Static<ReturnType<typeof Type.Object<typeof chatEnv>>>;

/** How agents answer (docs/chat.md); the models and their limits come from the plans file. */
export interface ChatConfig {
  /** `extractive`: agents never call the LLM even when one is configured (auto: they do). */
  engine: "auto" | "extractive";
  /** Cosine similarity from which a standalone question is answered from the semantic cache. */
  cacheSimilarity: number;
  /** Cached answers kept in this process (embedded mode; Redis keeps them in cluster mode); 0: none. */
  cacheSize: number;
  /** Longest wait for a model's first token before the fallback model is asked. */
  firstTokenTimeoutMs: number;
  /** Longest silence between two chunks of a streamed answer. */
  stallTimeoutMs: number;
}

export function chatConfig(e: ChatEnv): ChatConfig {
  return {
    engine: e.ENGRAM_CHAT_ENGINE ?? "auto",
    cacheSimilarity: e.ENGRAM_CHAT_CACHE_SIMILARITY ?? 0.95,
    cacheSize: e.ENGRAM_CHAT_CACHE_SIZE ?? 10_000,
    firstTokenTimeoutMs: e.ENGRAM_CHAT_FIRST_TOKEN_TIMEOUT_MS ?? 10_000,
    stallTimeoutMs: e.ENGRAM_CHAT_STALL_TIMEOUT_MS ?? 10_000,
  };
}
