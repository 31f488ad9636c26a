import type { Embedder } from "./embedder.ts";
import { toUnitVector } from "./unit-vector.ts";

export type OpenAIEmbedderOptions = {
  baseUrl: string;
  model: string;
  apiKey?: string;
  dimension: number;
  batchSize?: number;
  timeoutMs?: number;
};

const RETRIES = 2;
const MAX_BACKOFF_MS = 2_000;

type EmbeddingsResponse = { data?: { index?: unknown; embedding?: unknown }[] };

/** The id stored next to vectors from an OpenAI-compatible model. */
export const openAIModelId = (model: string) => `openai:${model}`;

/** Embeds through an OpenAI-compatible `POST {baseUrl}/embeddings` endpoint. */
export function createOpenAIEmbedder(opts: OpenAIEmbedderOptions): Embedder {
  const url = `${opts.baseUrl.replace(/\/+$/, "")}/embeddings`;
  const { origin, pathname } = new URL(url);
  // Errors name the endpoint without userinfo or query string, which may carry credentials.
  const endpoint = `${origin}${pathname}`;
  const batchSize = opts.batchSize ?? 256;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  for (const [name, value] of Object.entries({ batchSize, timeoutMs, dimension: opts.dimension })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(`${name} must be a positive integer, got ${value}`);
    }
  }
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
  let closed = false;

  /** Some servers echo the key in error bodies, and fetch echoes bad header values. */
  const redact = (message: string) =>
    opts.apiKey ? message.replaceAll(opts.apiKey, "[redacted]") : message;

  async function request(input: string[]): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(url, {
        method: "POST",
        headers,
        body: JSON.stringify({ model: opts.model, input, encoding_format: "float" }),
        signal: AbortSignal.timeout(timeoutMs),
      }).catch((err: unknown) => {
        const timedOut = err instanceof Error && err.name === "TimeoutError";
        const reason = timedOut ? `timed out after ${timeoutMs} ms` : causeOf(err);
        throw new Error(`embedding request to ${endpoint} failed: ${reason}`);
      });
      if (res.ok) return res;
      const retryable = res.status === 429 || res.status >= 500;
      if (!retryable || attempt >= RETRIES) {
        const detail = (await res.text().catch(() => "")).slice(0, 300);
        throw new Error(`embedding request to ${endpoint} failed: HTTP ${res.status} ${detail}`);
      }
      await res.body?.cancel();
      await sleep(backoffMs(attempt, res.headers.get("retry-after")));
    }
  }

  async function embedBatch(input: string[]): Promise<Float32Array[]> {
    const res = await request(input);
    const body = (await res.json().catch(() => ({}))) as EmbeddingsResponse;
    const data = body.data;
    if (!Array.isArray(data) || data.length !== input.length) {
      const got = Array.isArray(data) ? data.length : "no";
      throw new Error(`${endpoint} returned ${got} embeddings for ${input.length} inputs`);
    }
    const vectors: Float32Array[] = new Array(input.length);
    for (const { index, embedding } of data) {
      const valid =
        Number.isInteger(index) && (index as number) >= 0 && (index as number) < input.length;
      if (!valid || vectors[index as number] !== undefined) {
        throw new Error(`${endpoint} returned an out-of-range or repeated index ${index}`);
      }
      if (!Array.isArray(embedding) || embedding.length !== opts.dimension) {
        const got = Array.isArray(embedding) ? `${embedding.length}-d vectors` : "non-float data";
        throw new Error(
          `embedding model ${opts.model} returned ${got}, expected ${opts.dimension} ` +
            "(check the configured embedding dimension)",
        );
      }
      vectors[index as number] = toUnitVector(embedding as number[]);
    }
    return vectors;
  }

  return {
    modelId: openAIModelId(opts.model),
    dimension: opts.dimension,
    async embed(texts) {
      if (closed) throw new Error("OpenAI embedder is closed");
      const out: Float32Array[] = [];
      try {
        for (let i = 0; i < texts.length; i += batchSize) {
          out.push(...(await embedBatch(texts.slice(i, i + batchSize))));
        }
      } catch (err) {
        throw new Error(redact(causeOf(err)));
      }
      return out;
    },
    async close() {
      closed = true; // fetch's pooled sockets are shared and idle ones close themselves
    },
  };
}

function causeOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
}

function backoffMs(attempt: number, retryAfter: string | null): number {
  const seconds = Number(retryAfter);
  const wanted = retryAfter && seconds >= 0 ? seconds * 1000 : 200 * 2 ** attempt;
  return Math.min(wanted, MAX_BACKOFF_MS);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
