import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import type { ChatCitation } from "@engram/contract";
import type { ChatCacheStore } from "../chat/chat-cache.ts";
import { createLocalChatCache } from "../chat/chat-cache.ts";
import type { ChatAgent, ChatEvent, ChatOutcome, ChatTurn } from "../chat/chat-engine.ts";
import { type ChatEngine, createChatEngine } from "../chat/chat-engine.ts";
import type { ChatConfig } from "../config/chat-config.ts";
import { loadConfig } from "../config/config.ts";
import { createContextService } from "../context/context-service.ts";
import { openDatabase, prepareSchema } from "../db/open-database.ts";
import { createEmbedder, embeddingModel } from "../embeddings/create-embedder.ts";
import { withQueryCache } from "../embeddings/query-cache.ts";
import type { LlmConfig } from "../inference/create-engine.ts";
import { startKnowledge } from "../knowledge/knowledge-module.ts";
import { createMemories } from "../memories/memory-module.ts";
import type { EffectivePlan } from "../plans/plans.ts";
import { loadPlans } from "../plans/plans.ts";
import { createCounters } from "../telemetry/counters.ts";
import type { TenantContext } from "../tenancy/context.ts";
import { createTenancy } from "../tenancy/tenancy-module.ts";
import { tempDir, testPlansFile } from "./test-server.ts";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The chat engine over the real services, composed as the server composes them: an embedded
 * (PGlite) database in a temporary directory, the local embedder behind the query cache, the
 * knowledge module consuming its ingestion queue, memories, the context verb, and tenancy for
 * tenants and their contexts. Engines are made per test (`engine(...)`), each with its LLM
 * configuration and cache store; the knowledge module tells `onKnowledgeChange` listeners when a
 * document becomes searchable or is deleted.
 */
export async function startChatRig() {
  const dataDir = tempDir("engram-chat-");
  const config = loadConfig({
    ENGRAM_DATA_DIR: dataDir,
    ENGRAM_PLANS_FILE: testPlansFile(),
    ENGRAM_LOG_LEVEL: "silent",
  });
  const plans = loadPlans(config.plansFile);
  const db = await openDatabase(config);
  const model = embeddingModel(config.embedder);
  const listeners = new Set<(tenantId: string, projectId: string) => Promise<void>>();
  try {
    await prepareSchema(db, model);
    const embedder = withQueryCache(await createEmbedder(config.embedder), { max: 1000 });
    const kb = await startKnowledge({
      config,
      db,
      model,
      embedder,
      plans,
      log: quiet,
      consume: true,
      onKnowledgeChange: async (t, p) => {
        // Every engine hears it, even when another's store fails (a Redis made unreachable).
        await Promise.allSettled([...listeners].map((l) => l(t, p)));
      },
    });
    const { memories } = createMemories({
      config,
      db,
      model,
      embedder,
      redis: undefined,
      counters: createCounters(),
      log: quiet,
      searchKnowledge: (ctx, input) => kb.service.searchKnowledge(ctx, input),
    });
    const context = createContextService({
      searchMemories: (ctx, input) => memories.searchMemories(ctx, input),
      searchKnowledge: (ctx, input) => kb.service.searchKnowledge(ctx, input),
    });
    const tenancy = createTenancy(db, plans);

    /** A fresh tenant's context (every scope), on the unlimited test plan with `chat` changes. */
    async function tenant(chat: Partial<EffectivePlan["chat"]> = {}): Promise<TenantContext> {
      const made = await tenancy.tenants.createTenant({
        name: `chat-${Math.random().toString(36).slice(2)}`,
      });
      const ctx = await tenancy.authentication.authenticateKey(made.key.key, "req-test");
      assert.ok(typeof ctx === "object" && "tenantId" in ctx, "the new key authenticates");
      return { ...ctx, plan: { ...ctx.plan, chat: { ...ctx.plan.chat, ...chat } } };
    }

    /** Uploads a text document and waits until it is searchable. */
    async function addDocument(
      ctx: TenantContext,
      filename: string,
      text: string,
      owner: { user_id?: string; session_id?: string; collection?: string; agent_id?: string } = {},
    ): Promise<string> {
      const { document_id, job_id } = await kb.service.createDocument(ctx, {
        filename,
        mediaType: filename.endsWith(".md") ? "text/markdown" : "text/plain",
        content: Buffer.from(text, "utf8"),
        ...owner,
      });
      const deadline = Date.now() + 60_000;
      for (;;) {
        const job = await kb.service.getJob(ctx, job_id);
        if (job.state === "completed") return document_id;
        assert.ok(job.state !== "failed" && job.state !== "dead", JSON.stringify(job));
        assert.ok(Date.now() < deadline, "the document was not ingested within 60 s");
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    /** Stores memories of a user as said (no inference). */
    async function remember(ctx: TenantContext, userId: string, texts: string[]): Promise<void> {
      await memories.batchAddMemories(ctx, {
        memories: texts.map((text) => ({ text, user_id: userId, infer: false })),
      });
    }

    /** A chat engine over these services. */
    function engine(
      opts: {
        llm?: LlmConfig;
        config?: Partial<ChatConfig>;
        cache?: ChatCacheStore;
        log?: { warn(obj: object, msg: string): void };
      } = {},
    ): ChatEngine {
      const chat = createChatEngine({
        getContext: (ctx, input, narrowing) => context.getContext(ctx, input, narrowing),
        embedder,
        cache: opts.cache ?? createLocalChatCache(1000),
        llm: opts.llm,
        config: { ...config.chat, ...opts.config },
        log: opts.log,
      });
      listeners.add(chat.invalidateKnowledge);
      return chat;
    }

    return {
      tenant,
      addDocument,
      remember,
      engine,
      deleteDocument: (ctx: TenantContext, id: string) => kb.service.deleteDocument(ctx, id),
      async close() {
        await kb.stop();
        await embedder.close();
        await db.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}
export type ChatRig = Awaited<ReturnType<typeof startChatRig>>;

/** An agent as tests make them: knowledge of every collection, memory read, no model of its own. */
export function testAgent(over: Partial<ChatAgent> = {}): ChatAgent {
  return {
    id: `agt_${Math.random().toString(36).slice(2, 12)}`,
    version: 1,
    instructions: "You are the help desk of Acme.",
    knowledge: { collections: null },
    memory: { read: true, write: false },
    model: null,
    ...over,
  };
}

/** What one answer streamed and how it ended. */
export interface Heard {
  events: ChatEvent[];
  citations: ChatCitation[];
  deltas: string[];
  outcome: ChatOutcome;
}

/** Asks and records the events. */
export async function ask(
  chat: ChatEngine,
  ctx: TenantContext,
  turn: Partial<ChatTurn> & Pick<ChatTurn, "agent" | "message">,
): Promise<Heard> {
  const events: ChatEvent[] = [];
  const outcome = await chat.answer(
    ctx,
    { history: [], budgetLeftUsd: null, ...turn },
    (e) => void events.push(e),
  );
  return {
    events,
    citations: events.flatMap((e) => (e.event === "citations" ? e.data.items : [])),
    deltas: events.flatMap((e) => (e.event === "delta" ? [e.data.text] : [])),
    outcome,
  };
}
