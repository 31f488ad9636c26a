import type { IncomingHttpHeaders } from "node:http";
import { sendJson, startStandIn } from "./stand-in-server.ts";

type Protocol = "cohere" | "jina" | "tei";

/** Where each protocol's endpoint is, as its real servers have it. */
const PATHS: Record<string, Protocol> = {
  "/v2/rerank": "cohere",
  "/v1/rerank": "jina",
  "/rerank": "tei",
};

/** One rerank request the fake received. */
export interface FakeRerankRequest {
  protocol: Protocol;
  query: string;
  /** `documents` (Cohere, Jina) or `texts` (TEI), as sent. */
  documents: string[];
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/**
 * What the fake answers one request with, instead of its scores:
 * - `{ status, body?, headers? }`: that status (e.g. 429 with `{ "retry-after": "0" }`, or 500);
 * - `{ body }`: 200 with this JSON (an answer of the wrong shape, an index out of range…);
 * - `{ text }`: 200 with this text as the body (not JSON);
 * - `{ delayMs, reply? }`: waits, then answers `reply` (default: the scores);
 * - `"hang"`: never answers (the client's timeout must end it).
 */
export type FakeRerankReply =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { body: unknown }
  | { text: string }
  | { delayMs: number; reply?: FakeRerankReply }
  | "hang";

/** A document's relevance to the query. */
export type FakeScorer = (query: string, document: string) => number;

const words = (text: string) => new Set(text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);

/** The share of the query's distinct words the document contains: deterministic, in [0, 1]. */
export const overlapScore: FakeScorer = (query, document) => {
  const asked = words(query);
  if (asked.size === 0) return 0;
  const has = words(document);
  return [...asked].filter((w) => has.has(w)).length / asked.size;
};

/**
 * A local server speaking the `/rerank` protocols (Cohere v2 at `/v2/rerank`, Jina at
 * `/v1/rerank`, Hugging Face TEI at `/rerank`), scoring each document with `scorer` (by default
 * the query words it shares) and answering best first, as the real ones do. Replies can be
 * scripted per request to fail, stall or answer nonsense. With `apiKey`, a request without
 * `Authorization: Bearer <apiKey>` gets a 401 that echoes what it sent, as some servers do.
 */
export async function startFakeReranker(opts: { apiKey?: string } = {}) {
  const requests: FakeRerankRequest[] = [];
  const queue: FakeRerankReply[] = [];
  let scorer: FakeScorer = overlapScore;

  const server = await startStandIn(async (req, res, { text, wait }) => {
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) =>
      sendJson(res, status, JSON.stringify(payload), headers);
    const protocol = PATHS[req.url ?? ""];
    if (req.method !== "POST" || !protocol) {
      return send(404, { message: `no route ${req.method} ${req.url}` });
    }
    if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      const message = `invalid api token: ${req.headers.authorization?.slice(7)}`;
      return send(401, { message });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return send(400, { message: "the body is not JSON" });
    }
    // What the real servers require: a query and the texts (`texts` for TEI), and a model for
    // Cohere and Jina.
    const documents = protocol === "tei" ? body.texts : body.documents;
    const strings = (v: unknown): v is string[] =>
      Array.isArray(v) && v.every((d) => typeof d === "string");
    const query = body.query;
    if (typeof query !== "string" || !strings(documents)) {
      return send(422, { message: "query and the documents are required" });
    }
    if (protocol !== "tei" && typeof body.model !== "string") {
      return send(422, { message: "model is required" });
    }
    requests.push({ protocol, query, documents, headers: req.headers, body });
    let reply = queue.shift();
    while (reply !== undefined && reply !== "hang" && "delayMs" in reply) {
      await wait(reply.delayMs);
      reply = reply.reply;
    }
    if (reply === "hang") return;
    if (reply !== undefined && "status" in reply) {
      const payload = reply.body ?? { message: `scripted status ${reply.status}` };
      return send(reply.status, payload, reply.headers);
    }
    if (reply !== undefined && "text" in reply) return sendJson(res, 200, reply.text);
    if (reply !== undefined) return send(200, reply.body);
    const ranked = documents
      .map((document, index) => ({ index, score: scorer(query, document) }))
      .sort((a, b) => b.score - a.score || a.index - b.index);
    if (protocol === "tei") return send(200, ranked);
    const results = ranked.map((r) => ({ index: r.index, relevance_score: r.score }));
    send(200, { id: `rerank-${requests.length}`, results });
  });
  const urls: Record<Protocol, string> = {
    cohere: `${server.root}/v2/rerank`,
    jina: `${server.root}/v1/rerank`,
    tei: `${server.root}/rerank`,
  };
  return {
    urls,
    /** Every request received, in order. */
    requests,
    /** The server environment that re-ranks through this fake with `protocol`. */
    env(protocol: Protocol = "cohere", more: Record<string, string> = {}): Record<string, string> {
      return {
        ENGRAM_RERANK_URL: urls[protocol],
        ENGRAM_RERANK_PROTOCOL: protocol,
        ...(protocol === "tei" ? {} : { ENGRAM_RERANK_MODEL: "fake-rerank-1" }),
        ...(opts.apiKey === undefined ? {} : { ENGRAM_RERANK_API_KEY: opts.apiKey }),
        ...more,
      };
    },
    /** Replies for the next requests, before any scoring. */
    enqueue: (...replies: FakeRerankReply[]) => void queue.push(...replies),
    setScorer(next: FakeScorer | undefined) {
      scorer = next ?? overlapScore;
    },
    /** Forgets the requests and the queued replies, and scores by overlap again. */
    reset() {
      requests.length = 0;
      queue.length = 0;
      scorer = overlapScore;
    },
    close: () => server.close(),
  };
}
export type FakeReranker = Awaited<ReturnType<typeof startFakeReranker>>;
