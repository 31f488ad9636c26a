import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { tempDir } from "../testing/test-server.ts";
import { resolveAdminToken } from "./admin-token.ts";
import { ConfigError, loadConfig } from "./config.ts";

/** Asserts loadConfig(env) throws a ConfigError naming `variable` and holding none of `secrets`. */
function assertConfigError(
  env: Record<string, string | undefined>,
  variable: string,
  secrets: string[] = [],
) {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${variable}`);
  assert.equal(caught.name, "ConfigError");
  assert.ok(caught.message.includes(variable), caught.message);
  for (const secret of secrets) {
    assert.ok(!caught.message.includes(secret), `the message shows a secret: ${caught.message}`);
  }
  return caught.message;
}

describe("loadConfig", () => {
  test("defaults: port 8080, host 127.0.0.1, data dir ./.engram resolved, local embedder", () => {
    const config = loadConfig({});
    assert.equal(config.port, 8080);
    assert.equal(config.host, "127.0.0.1");
    assert.equal(config.dataDir, resolve(".engram"));
    assert.ok(config.dataDir.startsWith("/"), "the data dir is absolute");
    assert.equal(config.adminToken, undefined);
    assert.equal(config.logLevel, "info");
    assert.equal(config.maxBodyBytes, 4 * 1024 * 1024);
    assert.deepEqual(config.embedder, { provider: "local" });
  });

  test("empty strings count as unset", () => {
    const config = loadConfig({ PORT: "", HOST: "", ENGRAM_ADMIN_TOKEN: "" });
    assert.equal(config.port, 8080);
    assert.equal(config.host, "127.0.0.1");
    assert.equal(config.adminToken, undefined);
  });

  test("variables are read and converted", () => {
    const token = "a-very-long-admin-token-0123456789";
    const config = loadConfig({
      PORT: "9091",
      HOST: "0.0.0.0",
      ENGRAM_DATA_DIR: "some/relative/dir",
      ENGRAM_ADMIN_TOKEN: token,
      ENGRAM_LOG_LEVEL: "warn",
      ENGRAM_MAX_BODY_BYTES: "2048",
      UNRELATED: "ignored",
    });
    assert.equal(config.port, 9091);
    assert.equal(config.host, "0.0.0.0");
    assert.equal(config.dataDir, resolve("some/relative/dir"));
    assert.equal(config.adminToken, token);
    assert.equal(config.logLevel, "warn");
    assert.equal(config.maxBodyBytes, 2048);
  });

  test("an invalid PORT throws a ConfigError naming PORT", () => {
    for (const port of ["abc", "-1", "65536", "80.5", "8080x", "0x50", "1e3", " 80"]) {
      const message = assertConfigError({ PORT: port }, "PORT");
      assert.ok(message.includes(port), `shows the bad non-secret value: ${message}`);
    }
  });

  test("other invalid variables are named", () => {
    assertConfigError({ ENGRAM_LOG_LEVEL: "loud" }, "ENGRAM_LOG_LEVEL");
    assertConfigError({ ENGRAM_MAX_BODY_BYTES: "12" }, "ENGRAM_MAX_BODY_BYTES");
    assertConfigError({ ENGRAM_EMBEDDER: "magic" }, "ENGRAM_EMBEDDER");
  });

  test("a too-short or too-long ENGRAM_ADMIN_TOKEN is named, and its value never shown", () => {
    const short = "short-secret-xyz";
    assertConfigError({ ENGRAM_ADMIN_TOKEN: short }, "ENGRAM_ADMIN_TOKEN", [short]);
    const long = `long-secret-${"z".repeat(300)}`;
    assertConfigError({ ENGRAM_ADMIN_TOKEN: long }, "ENGRAM_ADMIN_TOKEN", [long, "long-secret"]);
  });

  test("ENGRAM_EMBEDDER=openai without its variables names each missing one", () => {
    const apiKey = "sk-secret-embedding-key-123";
    const base = { ENGRAM_EMBEDDER: "openai", ENGRAM_EMBEDDING_API_KEY: apiKey };
    assertConfigError(base, "ENGRAM_EMBEDDING_BASE_URL", [apiKey]);
    assertConfigError(
      { ...base, ENGRAM_EMBEDDING_BASE_URL: "http://127.0.0.1:9999/v1" },
      "ENGRAM_EMBEDDING_MODEL",
      [apiKey],
    );
    assertConfigError(
      {
        ...base,
        ENGRAM_EMBEDDING_BASE_URL: "http://127.0.0.1:9999/v1",
        ENGRAM_EMBEDDING_MODEL: "text-embedding-3-small",
      },
      "ENGRAM_EMBEDDING_DIMENSION",
      [apiKey],
    );
    assertConfigError(
      { ...base, ENGRAM_EMBEDDING_BASE_URL: "ftp://example.com" },
      "ENGRAM_EMBEDDING_BASE_URL",
      [apiKey],
    );
  });

  test("ENGRAM_EMBEDDER=openai with its variables is configured", () => {
    const config = loadConfig({
      ENGRAM_EMBEDDER: "openai",
      ENGRAM_EMBEDDING_BASE_URL: "http://127.0.0.1:9999/v1/",
      ENGRAM_EMBEDDING_MODEL: "text-embedding-3-small",
      ENGRAM_EMBEDDING_DIMENSION: "1536",
      ENGRAM_EMBEDDING_API_KEY: "sk-test",
    });
    assert.deepEqual(config.embedder, {
      provider: "openai",
      baseUrl: "http://127.0.0.1:9999/v1",
      model: "text-embedding-3-small",
      dimension: 1536,
      apiKey: "sk-test",
    });
  });
});

describe("resolveAdminToken", () => {
  const dirs: string[] = [];
  const fresh = () => {
    const dir = tempDir("engram-admin-token-");
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test("generates a token once, in a file only the owner can read", () => {
    const dataDir = fresh();
    const first = resolveAdminToken(undefined, dataDir);
    assert.equal(first.created, true);
    assert.equal(first.path, join(dataDir, "admin-token"));
    assert.ok(first.token.length >= 32, "long enough to be unguessable");
    assert.equal(statSync(first.path).mode & 0o777, 0o600);
    assert.equal(readFileSync(first.path, "utf8").trim(), first.token);
    // The generated token is itself a valid ENGRAM_ADMIN_TOKEN.
    assert.equal(loadConfig({ ENGRAM_ADMIN_TOKEN: first.token }).adminToken, first.token);

    const second = resolveAdminToken(undefined, dataDir);
    assert.deepEqual(second, { token: first.token, created: false, path: first.path });
  });

  test("creates a missing data directory readable by the owner only", () => {
    const dataDir = join(fresh(), "nested", "data");
    const result = resolveAdminToken(undefined, dataDir);
    assert.equal(result.created, true);
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dataDir, "admin-token")).mode & 0o777, 0o600);
  });

  test("every data directory gets its own token", () => {
    assert.notEqual(
      resolveAdminToken(undefined, fresh()).token,
      resolveAdminToken(undefined, fresh()).token,
    );
  });

  test("a configured token wins and no file is written", () => {
    const dataDir = fresh();
    const configured = "configured-admin-token-0123456789";
    assert.deepEqual(resolveAdminToken(configured, dataDir), {
      token: configured,
      created: false,
    });
    assert.equal(existsSync(join(dataDir, "admin-token")), false);
  });

  test("a configured token wins over one already in the data directory", () => {
    const dataDir = fresh();
    const generated = resolveAdminToken(undefined, dataDir).token;
    const configured = "configured-admin-token-0123456789";
    const result = resolveAdminToken(configured, dataDir);
    assert.equal(result.token, configured);
    assert.notEqual(result.token, generated);
    assert.equal(result.created, false);
  });

  test("a token file written by hand is read back trimmed", () => {
    const dataDir = fresh();
    const token = "hand-written-admin-token-0123456789";
    writeFileSync(join(dataDir, "admin-token"), `${token}\n\n`, { mode: 0o600 });
    assert.equal(resolveAdminToken(undefined, dataDir).token, token);
  });
});

describe("Redis, rate limit and cache variables", () => {
  test("defaults: no Redis, prefix engram:, rate limits and metering on, caches of 10,000", () => {
    const config = loadConfig({});
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.redisPrefix, "engram:");
    assert.equal(config.rateLimits, true);
    assert.equal(config.metering, true);
    assert.equal(config.plansFile, undefined);
    assert.equal(config.memoryCacheSize, 10_000);
    assert.equal(config.queryCacheSize, 10_000);
  });

  test("are read; off turns rate limiting and metering off, 0 the caches", () => {
    const config = loadConfig({
      REDIS_URL: "rediss://user:secret@redis.example:6380/2",
      ENGRAM_REDIS_PREFIX: "prod-eu:",
      ENGRAM_RATE_LIMITS: "off",
      ENGRAM_METERING: "off",
      ENGRAM_PLANS_FILE: "/etc/engram/plans.json",
      ENGRAM_MEMORY_CACHE_SIZE: "0",
      ENGRAM_QUERY_CACHE_SIZE: "0",
    });
    assert.equal(config.redisUrl, "rediss://user:secret@redis.example:6380/2");
    assert.equal(config.redisPrefix, "prod-eu:");
    assert.equal(config.rateLimits, false);
    assert.equal(config.metering, false);
    assert.equal(config.plansFile, "/etc/engram/plans.json");
    assert.equal(config.memoryCacheSize, 0);
    assert.equal(config.queryCacheSize, 0);
  });

  test("invalid values are named; a Redis URL, which may hold a password, is never shown", () => {
    assertConfigError({ REDIS_URL: "http://user:hunter2@redis:6379" }, "REDIS_URL", ["hunter2"]);
    assertConfigError({ ENGRAM_REDIS_PREFIX: "has space" }, "ENGRAM_REDIS_PREFIX");
    assertConfigError({ ENGRAM_RATE_LIMITS: "0" }, "ENGRAM_RATE_LIMITS");
    assertConfigError({ ENGRAM_METERING: "no" }, "ENGRAM_METERING");
    assertConfigError({ ENGRAM_MEMORY_CACHE_SIZE: "lots" }, "ENGRAM_MEMORY_CACHE_SIZE");
  });
});

describe("Idempotency-Key TTL and worker variables", () => {
  test("defaults: keys remembered 86,400 s (a day), jobs every 60 s", () => {
    const config = loadConfig({});
    assert.equal(config.idempotencyTtlS, 86_400);
    assert.equal(config.workerIntervalS, 60);
  });

  test("are read; invalid values are named", () => {
    const config = loadConfig({ ENGRAM_IDEMPOTENCY_TTL_S: "3600", ENGRAM_WORKER_INTERVAL_S: "1" });
    assert.equal(config.idempotencyTtlS, 3600);
    assert.equal(config.workerIntervalS, 1);
    assertConfigError({ ENGRAM_IDEMPOTENCY_TTL_S: "0" }, "ENGRAM_IDEMPOTENCY_TTL_S");
    assertConfigError({ ENGRAM_IDEMPOTENCY_TTL_S: "1.5" }, "ENGRAM_IDEMPOTENCY_TTL_S");
    assertConfigError({ ENGRAM_WORKER_INTERVAL_S: "0" }, "ENGRAM_WORKER_INTERVAL_S");
    assertConfigError({ ENGRAM_WORKER_INTERVAL_S: "86401" }, "ENGRAM_WORKER_INTERVAL_S");
  });
});

describe("failed-authentication throttle and proxy variables", () => {
  test("defaults: 20 failures per address per 300 s; no proxy is trusted", () => {
    const config = loadConfig({});
    assert.equal(config.authFailureLimit, 20);
    assert.equal(config.authFailureWindowS, 300);
    assert.equal(config.trustProxy, false);
  });

  test("are read: 0 turns the throttle off; the proxy is true, false or addresses and ranges", () => {
    const config = loadConfig({
      ENGRAM_AUTH_FAILURE_LIMIT: "0",
      ENGRAM_AUTH_FAILURE_WINDOW_S: "60",
      ENGRAM_TRUST_PROXY: "10.0.0.0/8, 2001:db8::1,loopback",
    });
    assert.equal(config.authFailureLimit, 0);
    assert.equal(config.authFailureWindowS, 60);
    assert.deepEqual(config.trustProxy, ["10.0.0.0/8", "2001:db8::1", "loopback"]);
    assert.equal(loadConfig({ ENGRAM_TRUST_PROXY: "true" }).trustProxy, true);
    assert.equal(loadConfig({ ENGRAM_TRUST_PROXY: "false" }).trustProxy, false);
  });

  test("invalid values are named", () => {
    assertConfigError({ ENGRAM_AUTH_FAILURE_LIMIT: "-1" }, "ENGRAM_AUTH_FAILURE_LIMIT");
    assertConfigError({ ENGRAM_AUTH_FAILURE_WINDOW_S: "0" }, "ENGRAM_AUTH_FAILURE_WINDOW_S");
    assertConfigError({ ENGRAM_AUTH_FAILURE_WINDOW_S: "86401" }, "ENGRAM_AUTH_FAILURE_WINDOW_S");
    // A hop count is refused: Fastify cannot tell a proxy from a client sending the header.
    for (const value of ["2", "10.0.0.0/33", "proxy.example", "10.0.0.1,,"]) {
      const message = assertConfigError({ ENGRAM_TRUST_PROXY: value }, "ENGRAM_TRUST_PROXY");
      assert.match(message, /is not true, false, an IP address/);
    }
  });
});

describe("LLM budget fallback", () => {
  test("defaults to refuse; local is read; anything else is named", () => {
    assert.equal(loadConfig({}).llmBudgetFallback, "refuse");
    assert.equal(loadConfig({ ENGRAM_LLM_BUDGET_FALLBACK: "local" }).llmBudgetFallback, "local");
    assert.equal(loadConfig({ ENGRAM_LLM_BUDGET_FALLBACK: "refuse" }).llmBudgetFallback, "refuse");
    const message = assertConfigError(
      { ENGRAM_LLM_BUDGET_FALLBACK: "ignore" },
      "ENGRAM_LLM_BUDGET_FALLBACK",
    );
    assert.match(message, /ignore/);
  });
});

describe("inference engine and LLM variables", () => {
  const apiKey = "sk-secret-llm-key-0123456789";
  const llm = {
    ENGRAM_LLM_BASE_URL: "https://api.example.com/v1/",
    ENGRAM_LLM_MODEL: "gpt-4o-mini",
    ENGRAM_LLM_API_KEY: apiKey,
  };

  test("defaults: local inference; the LLM engine when a base URL is set", () => {
    assert.equal(loadConfig({}).llm, undefined);
    assert.deepEqual(loadConfig(llm).llm, {
      baseUrl: "https://api.example.com/v1",
      model: "gpt-4o-mini",
      apiKey,
      fallbackModel: undefined,
      timeoutMs: 30_000,
      maxRetries: 2,
      prices: {},
    });
    assert.equal(loadConfig({ ...llm, ENGRAM_INFERENCE_ENGINE: "local" }).llm, undefined);
  });

  test("agents chat with the configured LLM whatever inference uses, unless told to stay extractive", () => {
    const local = loadConfig({ ...llm, ENGRAM_INFERENCE_ENGINE: "local" });
    assert.equal(local.llm, undefined);
    assert.equal(local.chatLlm?.model, "gpt-4o-mini");
    assert.equal(local.chatLlm?.baseUrl, "https://api.example.com/v1");
    assert.equal(loadConfig({ ...llm, ENGRAM_CHAT_ENGINE: "extractive" }).chatLlm, undefined);
    assert.equal(loadConfig({}).chatLlm, undefined, "no LLM configured: extractive");
    assertConfigError({ ...llm, ENGRAM_CHAT_ENGINE: "gpt" }, "ENGRAM_CHAT_ENGINE");
  });

  test("are read: fallback model, timeout, retries and inline prices", () => {
    const config = loadConfig({
      ...llm,
      ENGRAM_INFERENCE_ENGINE: "llm",
      ENGRAM_LLM_FALLBACK_MODEL: "llama3.1:8b",
      ENGRAM_LLM_TIMEOUT_MS: "5000",
      ENGRAM_LLM_MAX_RETRIES: "0",
      ENGRAM_LLM_PRICES: '{"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}',
    });
    assert.equal(config.llm?.fallbackModel, "llama3.1:8b");
    assert.equal(config.llm?.timeoutMs, 5000);
    assert.equal(config.llm?.maxRetries, 0);
    assert.deepEqual(config.llm?.prices, {
      "gpt-4o-mini": { input_per_mtok: 0.15, output_per_mtok: 0.6 },
    });
  });

  test("ENGRAM_LLM_PRICES may name a JSON file", (t) => {
    const dir = tempDir("engram-prices-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "prices.json");
    writeFileSync(file, JSON.stringify({ m: { input_per_mtok: 1, output_per_mtok: 2 } }));
    const config = loadConfig({ ...llm, ENGRAM_LLM_PRICES: file });
    assert.deepEqual(config.llm?.prices, { m: { input_per_mtok: 1, output_per_mtok: 2 } });
    const missing = assertConfigError(
      { ...llm, ENGRAM_LLM_PRICES: join(dir, "absent.json") },
      "ENGRAM_LLM_PRICES",
      [apiKey],
    );
    assert.match(missing, /cannot read the file .*absent\.json \(ENOENT\)/);
  });

  test("bad values fail at start, naming the variable and never showing the key", () => {
    assertConfigError({ ENGRAM_INFERENCE_ENGINE: "gpt" }, "ENGRAM_INFERENCE_ENGINE");
    assertConfigError({ ENGRAM_INFERENCE_ENGINE: "llm" }, "ENGRAM_LLM_BASE_URL");
    assertConfigError(
      { ENGRAM_LLM_BASE_URL: "https://api.example.com/v1", ENGRAM_LLM_API_KEY: apiKey },
      "ENGRAM_LLM_MODEL",
      [apiKey],
    );
    assertConfigError({ ...llm, ENGRAM_LLM_BASE_URL: "api.example.com" }, "ENGRAM_LLM_BASE_URL", [
      apiKey,
    ]);
    assertConfigError({ ...llm, ENGRAM_LLM_MODEL: "bad model name" }, "ENGRAM_LLM_MODEL", [apiKey]);
    assertConfigError({ ...llm, ENGRAM_LLM_TIMEOUT_MS: "50" }, "ENGRAM_LLM_TIMEOUT_MS", [apiKey]);
    assertConfigError({ ...llm, ENGRAM_LLM_TIMEOUT_MS: "1.5" }, "ENGRAM_LLM_TIMEOUT_MS");
    assertConfigError({ ...llm, ENGRAM_LLM_MAX_RETRIES: "11" }, "ENGRAM_LLM_MAX_RETRIES");
    const notJson = assertConfigError(
      { ...llm, ENGRAM_LLM_PRICES: "{gpt: 1}" },
      "ENGRAM_LLM_PRICES",
    );
    assert.match(notJson, /not JSON/);
    const negative = assertConfigError(
      { ...llm, ENGRAM_LLM_PRICES: '{"m": {"input_per_mtok": -1, "output_per_mtok": 0}}' },
      "ENGRAM_LLM_PRICES",
      [apiKey],
    );
    assert.match(negative, /\/m\/input_per_mtok/);
    assertConfigError({ ...llm, ENGRAM_LLM_PRICES: '{"m": {"input": 1}}' }, "ENGRAM_LLM_PRICES");
  });
});

describe("re-ranker variables", () => {
  const apiKey = "rr-secret-rerank-key-0123456789";
  const cohere = {
    ENGRAM_RERANK_URL: "https://api.cohere.com/v2/rerank",
    ENGRAM_RERANK_MODEL: "rerank-v3.5",
    ENGRAM_RERANK_API_KEY: apiKey,
  };

  test("defaults: no re-ranker; with a URL, Cohere's protocol, 30 candidates, 1,500 ms, 1 retry", () => {
    assert.equal(loadConfig({}).rerank, undefined);
    assert.deepEqual(loadConfig(cohere).rerank, {
      url: "https://api.cohere.com/v2/rerank",
      protocol: "cohere",
      model: "rerank-v3.5",
      apiKey,
      timeoutMs: 1_500,
      maxRetries: 1,
      candidates: 30,
    });
  });

  test("are read: protocol, timeout, retries, candidates; TEI needs no model", () => {
    const tei = loadConfig({
      ENGRAM_RERANK_URL: "http://127.0.0.1:8081/rerank",
      ENGRAM_RERANK_PROTOCOL: "tei",
      ENGRAM_RERANK_TIMEOUT_MS: "300",
      ENGRAM_RERANK_MAX_RETRIES: "0",
      ENGRAM_RERANK_CANDIDATES: "100",
    }).rerank;
    assert.deepEqual(tei, {
      url: "http://127.0.0.1:8081/rerank",
      protocol: "tei",
      model: undefined,
      apiKey: undefined,
      timeoutMs: 300,
      maxRetries: 0,
      candidates: 100,
    });
    const jina = loadConfig({
      ...cohere,
      ENGRAM_RERANK_PROTOCOL: "jina",
      ENGRAM_RERANK_MODEL: "jina-reranker-v2-base-multilingual",
    });
    assert.equal(jina.rerank?.protocol, "jina");
  });

  test("bad values fail at start, naming the variable and never showing the key or URL", () => {
    const secretUrl = "https://user:pa55word@rerank.example.com/v2/rerank";
    for (const url of [
      "api.cohere.com/v2/rerank",
      "https://",
      "ftp://x/rerank",
      "http://[::1/rerank",
    ]) {
      assertConfigError({ ...cohere, ENGRAM_RERANK_URL: url }, "ENGRAM_RERANK_URL", [apiKey, url]);
    }
    assertConfigError({ ...cohere, ENGRAM_RERANK_URL: `${secretUrl} x` }, "ENGRAM_RERANK_URL", [
      "pa55word",
    ]);
    for (const n of ["0", "101", "2.5", "-1", "thirty"]) {
      assertConfigError({ ...cohere, ENGRAM_RERANK_CANDIDATES: n }, "ENGRAM_RERANK_CANDIDATES", [
        apiKey,
      ]);
    }
    assertConfigError({ ...cohere, ENGRAM_RERANK_TIMEOUT_MS: "10" }, "ENGRAM_RERANK_TIMEOUT_MS");
    assertConfigError({ ...cohere, ENGRAM_RERANK_MAX_RETRIES: "6" }, "ENGRAM_RERANK_MAX_RETRIES");
    assertConfigError({ ...cohere, ENGRAM_RERANK_PROTOCOL: "voyage" }, "ENGRAM_RERANK_PROTOCOL");
    assertConfigError({ ...cohere, ENGRAM_RERANK_MODEL: "bad model" }, "ENGRAM_RERANK_MODEL", [
      apiKey,
    ]);
    const noModel = assertConfigError(
      { ENGRAM_RERANK_URL: cohere.ENGRAM_RERANK_URL, ENGRAM_RERANK_PROTOCOL: "jina" },
      "ENGRAM_RERANK_MODEL",
    );
    assert.match(noModel, /required with ENGRAM_RERANK_PROTOCOL=jina/);
    // Set without the URL, the others would silently do nothing.
    const stray = assertConfigError(
      { ENGRAM_RERANK_MODEL: "rerank-v3.5", ENGRAM_RERANK_API_KEY: apiKey },
      "ENGRAM_RERANK_URL",
      [apiKey],
    );
    assert.match(stray, /ENGRAM_RERANK_MODEL is set/);
  });
});
