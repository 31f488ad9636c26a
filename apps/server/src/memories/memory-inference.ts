import type {
  AddMemoryBody,
  AddMemoryResponse,
  HistorySource,
  InferenceReport,
  Message,
  MessageSource,
} from "@engram/contract";
import { type IdempotencyKey, IdempotencyRace, scopedIdempotency } from "../db/idempotency.ts";
import type { Embedder } from "../embeddings/embedder.ts";
import { extractEntities } from "../entities/entity-extraction.ts";
import type {
  Category,
  Decision,
  Extraction,
  Fact,
  InferenceEngine,
  LlmCall,
  Neighbour,
  SourceMessage,
} from "../inference/engine.ts";
import { newId } from "../lib/ids.ts";
import { vectorLiteral } from "../search/query-text.ts";
import type { TenantContext } from "../tenancy/context.ts";
import { type LlmBudgetCheck, recordLlmCalls } from "../usage/llm-usage.ts";
import { meterOf, type UsageHook } from "../usage/metering.ts";
import { contentHash } from "./content-hash.ts";
import {
  type InferenceStore,
  type InferenceWrite,
  type ReconcileScope,
  reconcileScopeOf,
  StaleTarget,
  scopeKey,
} from "./inference-store.ts";
import type { NewMemory } from "./memory-store.ts";

/** Current memories a fact is compared with (plus its attribute's current holder). */
const NEIGHBOURS = 8;
/** Decisions are taken again this many times when a target changed before the write. */
const ATTEMPTS = 3;

export interface InferenceDeps {
  store: InferenceStore;
  embedder: Embedder;
  /** The configured engine (local by default, or the LLM engine). */
  engine: InferenceEngine;
  /** The local engine: the LLM engine's fallback when its budget is spent. */
  local: InferenceEngine;
  /** Cosine similarity at or above which a memory with the same entities is a near-duplicate. */
  duplicateThreshold: number;
  idempotencyTtlS: number;
  /** The LLM budget check before an LLM inference (usage/llm-usage.ts); none: unlimited. */
  llmBudget?: LlmBudgetCheck | undefined;
  /** The project's categories most similar to each vector (the local engine's categories). */
  categorize?: ((ctx: TenantContext, vectors: Float32Array[]) => Promise<string[][]>) | undefined;
  /** The project's categories, for the LLM engine to choose among. */
  categoriesFor?: ((ctx: TenantContext) => Promise<Category[]>) | undefined;
}

/** One fact with what its write needs: the body it came from, its messages and its vector. */
interface Pending {
  fact: Fact;
  body: AddMemoryBody;
  messages: SourceMessage[];
  scope: ReconcileScope;
  vector: Float32Array;
  categories: string[];
}

/** The request's messages as the engines see them: positions, speakers and resolved times. */
function sourceMessages(body: AddMemoryBody, now: Date): SourceMessage[] {
  const bodyTime = body.timestamp ? new Date(body.timestamp) : now;
  if (body.text !== undefined) {
    return [
      { index: 0, role: "user", speaker: body.user_id ?? null, content: body.text, time: bodyTime },
    ];
  }
  return (body.messages ?? []).map((m, index) => ({
    index,
    id: m.id,
    role: m.role,
    speaker:
      m.name ??
      (m.role === "user" ? body.user_id : m.role === "assistant" ? body.agent_id : undefined) ??
      null,
    content: m.content,
    time: m.timestamp ? new Date(m.timestamp) : bodyTime,
  }));
}

/** Provenance of the request's message at `index`: a plain `text` is message 0, said by the user. */
export function messageSource(index: number, message: Message | undefined): MessageSource {
  if (!message) return { index, role: "user" };
  return {
    index,
    ...(message.id !== undefined ? { id: message.id } : {}),
    role: message.role,
    ...(message.name !== undefined ? { name: message.name } : {}),
  };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += (a[i] as number) * (b[i] as number);
  return dot; // the embedders return unit vectors
}

/**
 * `infer: true`: extraction, then reconciliation of each fact with the nearest current memories
 * of its scope, then one transaction with every decision, its history, usage and LLM spend.
 * Facts of one request see the ones decided before them (a correction later in a conversation
 * supersedes what it corrects).
 */
export function createInference(deps: InferenceDeps) {
  const { store, embedder } = deps;

  async function chooseEngine(ctx: TenantContext) {
    if (deps.engine.name !== "llm" || !deps.llmBudget) return { engine: deps.engine };
    // Past the budget this throws 402 llm_budget_exceeded, or answers "local" (as configured).
    const { engine } = await deps.llmBudget({ tenantId: ctx.tenantId, plan: ctx.plan });
    if (engine === "llm") return { engine: deps.engine };
    return { engine: deps.local, fallback: "the plan's monthly LLM budget is spent" };
  }

  async function decide(
    p: Pending,
    neighbours: Neighbour[],
    engine: InferenceEngine,
    calls: LlmCall[],
  ): Promise<{ decision: Decision; engine: "local" | "llm"; fallback?: string | undefined }> {
    const out = await engine.reconcile(p.fact, neighbours, {
      duplicateThreshold: deps.duplicateThreshold,
    });
    calls.push(...out.calls);
    const known = new Set(neighbours.map((n) => n.id));
    const decision = out.value;
    if (decision.event !== "ADD" && !(decision.targetId && known.has(decision.targetId))) {
      // An engine must name one of the neighbours; anything else is a new fact, not a lost one.
      return {
        decision: {
          event: "ADD",
          text: p.fact.text,
          reason: `${decision.reason} (no valid target: added)`,
        },
        engine: out.fallback ? "local" : engine.name,
        fallback: out.fallback,
      };
    }
    return { decision, engine: out.fallback ? "local" : engine.name, fallback: out.fallback };
  }

  /** The request messages a fact came from. */
  const provenance = (p: Pending): MessageSource[] =>
    p.fact.sources.filter((i) => p.messages[i]).map((i) => messageSource(i, p.body.messages?.[i]));

  /**
   * What a memory written for this fact mentions: the LLM engine's typed entities and relations,
   * else local extraction from the text, with the fact's attribute as a relation.
   */
  function entitiesOf(p: Pending, text: string): Extraction {
    if (p.fact.mentions) return p.fact.mentions;
    const first = p.messages[p.fact.sources[0] ?? 0] ?? p.messages[0];
    return extractEntities(text, {
      time: first?.time,
      speakers: p.messages.flatMap((m) => (m.speaker ? [m.speaker] : [])),
      // A fact is what its first message's named speaker said (ids are not names).
      speaker: first ? p.body.messages?.[first.index]?.name : undefined,
      attribute: p.fact.attribute,
      negates: p.fact.negates,
    });
  }

  function newRow(p: Pending, text: string, vector: Float32Array): NewMemory {
    const first = p.messages[p.fact.sources[0] ?? 0] ?? p.messages[0];
    const explicit =
      (first && p.body.messages?.[first.index]?.timestamp) ?? p.body.timestamp ?? null;
    return {
      id: newId("mem"),
      memory: text,
      role: first?.role ?? null,
      userId: p.body.user_id ?? null,
      agentId: p.body.agent_id ?? null,
      sessionId: p.body.session_id ?? null,
      metadata: p.body.metadata ?? {},
      contentHash: contentHash(text),
      occurredAt: explicit,
      validFrom: p.fact.validFrom,
      sources: provenance(p),
      categories: p.categories,
      attribute: p.fact.attribute
        ? { subject: p.fact.attribute.subject, key: p.fact.attribute.key }
        : null,
      entities: entitiesOf(p, text),
      embedding: vectorLiteral(vector),
    };
  }

  /** Decides every fact against the database and the facts decided before it. */
  async function plan(
    tenantId: string,
    pending: Pending[],
    engine: InferenceEngine,
    calls: LlmCall[],
    fallbacks: string[],
  ): Promise<InferenceWrite[]> {
    const writes: InferenceWrite[] = [];
    // Memories this request will have written, per scope, with their vectors.
    const fresh = new Map<string, { n: Neighbour; vector: Float32Array }[]>();
    const stored = await store.neighbours(
      tenantId,
      pending.map((p) => ({
        scope: p.scope,
        vector: vectorLiteral(p.vector),
        attribute: p.fact.attribute
          ? { subject: p.fact.attribute.subject, key: p.fact.attribute.key }
          : undefined,
      })),
      NEIGHBOURS,
    );
    // Targets a decision before closed or invalidated: no longer current for the facts after it.
    const closed = new Set<string>();
    for (const [i, p] of pending.entries()) {
      const key = scopeKey(tenantId, p.scope);
      const mine = fresh.get(key) ?? [];
      const neighbours = [
        ...(stored[i] ?? []).filter((n) => !closed.has(n.id) && !mine.some((f) => f.n.id === n.id)),
        ...mine.map((f) => ({ ...f.n, similarity: cosine(f.vector, p.vector) })),
      ].sort((a, b) => b.similarity - a.similarity);
      const { decision, engine: by, fallback } = await decide(p, neighbours, engine, calls);
      if (fallback) fallbacks.push(fallback);
      const sources: HistorySource[] = provenance(p).map((ref) => ({
        ...ref,
        content: p.messages[ref.index]?.content ?? "",
      }));
      const base = { sources, reason: decision.reason, engine: by };
      const target = decision.targetId as string;
      const vectorOf = async (text: string) =>
        text === p.fact.text ? p.vector : ((await embedder.embed([text]))[0] as Float32Array);
      const remember = (row: NewMemory, vector: Float32Array) => {
        mine.push({
          n: {
            id: row.id,
            memory: row.memory,
            similarity: 0,
            attribute: row.attribute ?? null,
            validFrom: row.validFrom ?? new Date().toISOString(),
          },
          vector,
        });
        fresh.set(key, mine);
      };
      if (decision.event === "ADD") {
        const vector = await vectorOf(decision.text);
        const row = newRow(p, decision.text, vector);
        writes.push({ ...base, kind: "add", row });
        remember(row, vector);
      } else if (decision.event === "UPDATE" && decision.supersede) {
        const vector = await vectorOf(decision.text);
        const row = newRow(p, decision.text, vector);
        writes.push({ ...base, kind: "supersede", row, targetId: target });
        closed.add(target);
        remember(row, vector);
      } else if (decision.event === "UPDATE") {
        const vector = await vectorOf(decision.text);
        writes.push({
          ...base,
          kind: "enrich",
          targetId: target,
          text: decision.text,
          contentHash: contentHash(decision.text),
          embedding: vectorLiteral(vector),
          sourceRefs: provenance(p),
          entities: entitiesOf(p, decision.text),
        });
      } else if (decision.event === "DELETE") {
        writes.push({ ...base, kind: "invalidate", targetId: target, validTo: p.fact.validFrom });
        closed.add(target);
      } else {
        writes.push({ ...base, kind: "noop", targetId: target });
      }
    }
    return writes;
  }

  return async function infer(
    ctx: TenantContext,
    bodies: AddMemoryBody[],
    operation: string,
    usage: UsageHook | undefined,
    key?: IdempotencyKey,
  ): Promise<AddMemoryResponse> {
    const idem = key && scopedIdempotency(key, "memories", ctx.projectId, deps.idempotencyTtlS);
    if (idem) {
      const earlier = await store.findIdempotent(ctx.tenantId, idem);
      if (earlier) return earlier as AddMemoryResponse;
    }
    const chosen = await chooseEngine(ctx);
    const engine = chosen.engine;
    const fallbacks: string[] = chosen.fallback ? [chosen.fallback] : [];
    const calls: LlmCall[] = [];
    const now = new Date();

    const categories =
      engine.name === "llm" && deps.categoriesFor ? await deps.categoriesFor(ctx) : undefined;
    const extracted: Omit<Pending, "vector" | "categories">[] = [];
    for (const body of bodies) {
      const messages = sourceMessages(body, now);
      const out = await engine.extract(messages, { categories });
      calls.push(...out.calls);
      if (out.fallback) fallbacks.push(out.fallback);
      const scope = reconcileScopeOf({
        projectId: ctx.projectId,
        userId: body.user_id,
        agentId: body.agent_id,
        sessionId: body.session_id,
      });
      for (const fact of out.value) extracted.push({ fact, body, messages, scope });
    }
    const vectors =
      extracted.length > 0 ? await embedder.embed(extracted.map((e) => e.fact.text)) : [];
    const needCategories = extracted.some((e) => e.fact.categories === undefined);
    const categorized =
      needCategories && deps.categorize ? await deps.categorize(ctx, vectors) : [];
    const pending: Pending[] = extracted.map((e, i) => ({
      ...e,
      vector: vectors[i] as Float32Array,
      categories: e.fact.categories ?? categorized[i] ?? [],
    }));
    const scopes = pending.map((p) => p.scope);

    for (let attempt = 1; ; attempt++) {
      const writes = await plan(ctx.tenantId, pending, engine, calls, fallbacks);
      const fallback = [...new Set(fallbacks)].join("; ");
      const inference: InferenceReport = {
        // The configured engine; `fallback` says when (and why) the local one did the work.
        engine: deps.engine.name,
        ...(fallback ? { fallback } : {}),
      };
      try {
        return await store.apply(ctx.tenantId, ctx.projectId, scopes, writes, {
          inference,
          idem,
          usage,
          // The calls' spend commits with the write (also when every decision is a NOOP).
          after:
            calls.length > 0
              ? (tx) => recordLlmCalls(tx, meterOf(ctx), operation, calls)
              : undefined,
        });
      } catch (err) {
        if (err instanceof StaleTarget && attempt < ATTEMPTS) continue;
        if (idem && err instanceof IdempotencyRace) {
          return (await store.findIdempotent(ctx.tenantId, idem)) as AddMemoryResponse;
        }
        throw err;
      }
    }
  };
}
export type Infer = ReturnType<typeof createInference>;
