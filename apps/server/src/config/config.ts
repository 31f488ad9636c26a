import { resolve } from "node:path";
import Type, { type Static } from "typebox";
import Value from "typebox/value";

const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const LogLevel = Type.Enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const);

/** Every environment variable Engram reads. Parsed once at start; nothing else reads process.env. */
const EnvSchema = Type.Object({
  PORT: Type.Optional(Port),
  HOST: Type.Optional(Type.String({ minLength: 1 })),
  ENGRAM_DATA_DIR: Type.Optional(Type.String({ minLength: 1 })),
  ENGRAM_ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 24, maxLength: 256 })),
  ENGRAM_LOG_LEVEL: Type.Optional(LogLevel),
  ENGRAM_MAX_BODY_BYTES: Type.Optional(Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024 })),
  ENGRAM_QUERY_CACHE_SIZE: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  ENGRAM_EMBEDDER: Type.Optional(Type.Enum(["local", "openai"] as const)),
  ENGRAM_EMBEDDING_BASE_URL: Type.Optional(Type.String({ pattern: "^https?://" })),
  ENGRAM_EMBEDDING_MODEL: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9._:/-]{1,100}$" })),
  ENGRAM_EMBEDDING_API_KEY: Type.Optional(Type.String({ minLength: 1 })),
  ENGRAM_EMBEDDING_DIMENSION: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096 })),
});

export type EmbedderConfig =
  | { provider: "local" }
  | { provider: "openai"; baseUrl: string; model: string; apiKey?: string; dimension: number };

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  adminToken: string | undefined;
  logLevel: Static<typeof LogLevel>;
  maxBodyBytes: number;
  queryCacheSize: number;
  embedder: EmbedderConfig;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses the environment into a Config, failing fast with the offending variable's name. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== "") raw[key] = value;
  }
  const converted = Value.Convert(EnvSchema, raw) as Record<string, unknown>;
  // Convert truncates "80.5" to 80 and reads "0x50" as hex: an integer must be plain digits.
  for (const [key, schema] of Object.entries(EnvSchema.properties)) {
    const value = env[key];
    if ((schema as { type?: string }).type === "integer" && value && !/^\d+$/.test(value)) {
      converted[key] = value;
    }
  }
  const first = Value.Errors(EnvSchema, converted)[0];
  if (first) {
    const variable = first.instancePath.replace(/^\//, "") || "environment";
    const shown =
      variable.includes("TOKEN") || variable.includes("KEY") ? "" : ` (got "${raw[variable]}")`;
    throw new ConfigError(`Invalid ${variable}: ${first.message}${shown}`);
  }
  const e = converted as Static<typeof EnvSchema>;
  return {
    port: e.PORT ?? 8080,
    host: e.HOST ?? "127.0.0.1",
    dataDir: resolve(e.ENGRAM_DATA_DIR ?? ".engram"),
    adminToken: e.ENGRAM_ADMIN_TOKEN,
    logLevel: e.ENGRAM_LOG_LEVEL ?? "info",
    maxBodyBytes: e.ENGRAM_MAX_BODY_BYTES ?? 4 * 1024 * 1024,
    queryCacheSize: e.ENGRAM_QUERY_CACHE_SIZE ?? 10_000,
    embedder: embedderConfig(e),
  };
}

function embedderConfig(e: Static<typeof EnvSchema>): EmbedderConfig {
  if ((e.ENGRAM_EMBEDDER ?? "local") === "local") return { provider: "local" };
  const need = (name: keyof typeof e, value: unknown) => {
    if (value === undefined)
      throw new ConfigError(`${name} is required when ENGRAM_EMBEDDER=openai`);
  };
  need("ENGRAM_EMBEDDING_BASE_URL", e.ENGRAM_EMBEDDING_BASE_URL);
  need("ENGRAM_EMBEDDING_MODEL", e.ENGRAM_EMBEDDING_MODEL);
  need("ENGRAM_EMBEDDING_DIMENSION", e.ENGRAM_EMBEDDING_DIMENSION);
  return {
    provider: "openai",
    baseUrl: (e.ENGRAM_EMBEDDING_BASE_URL as string).replace(/\/+$/, ""),
    model: e.ENGRAM_EMBEDDING_MODEL as string,
    dimension: e.ENGRAM_EMBEDDING_DIMENSION as number,
    ...(e.ENGRAM_EMBEDDING_API_KEY ? { apiKey: e.ENGRAM_EMBEDDING_API_KEY } : {}),
  };
}
