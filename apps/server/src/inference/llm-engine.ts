import { ENTITY_NAME_MAX, type EntityType, MEMORY_TEXT_MAX } from "@engram/contract";
import type { TSchema } from "typebox";
import {
  ATTRIBUTE_KEYS,
  type Attribute,
  type Category,
  type Decision,
  type EngineOutcome,
  type EntityMention,
  type Extraction,
  type ExtractOptions,
  type Fact,
  type InferenceEngine,
  type LlmCall,
  type Neighbour,
  type ReconcileOptions,
  type SourceMessage,
} from "./engine.ts";
import type { ChatMessage, LlmClient, LlmLogger } from "./llm-client.ts";
import {
  checkOutput,
  type ExtractOutput,
  extractSchema,
  type LlmPrompts,
  loadPrompts,
  RECONCILE_SCHEMA,
  type ReconcileOutput,
} from "./llm-output.ts";

export interface LlmEngineOptions {
  client: LlmClient;
  /** Takes over any step the model fails (no answer, or an answer failing the schema twice). */
  local: InferenceEngine;
  /** The categories the model may choose from when a call names none (ExtractOptions). */
  categories?: Category[] | undefined;
  /** The prompt files; loaded from ./prompts when not given. */
  prompts?: LlmPrompts | undefined;
  log?: LlmLogger | undefined;
}

/** Most facts taken from one request: more is a runaway answer, handled as a bad one. */
const MAX_FACTS = 200;
/** Most entities, relations and aliases kept per fact (or entity); the rest is dropped. */
const MAX_ENTITIES = 50;
const MAX_RELATIONS = 50;
const MAX_ALIASES = 10;
/** The invalid answer shown back to the model on its second try is cut to this many characters. */
const ECHO_MAX = 4_000;

type Checked<T> = { ok: true; value: T } | { ok: false; why: string };

/**
 * The `llm` inference engine: extraction and reconciliation by an OpenAI-compatible model with
 * JSON-schema structured output. An answer failing the schema (or naming messages or memories it
 * was not given) is asked for once more; a second bad answer, or no answer at all, hands the step
 * to the local engine and the outcome's `fallback` says why (docs/llm.md).
 */
export function createLlmEngine(opts: LlmEngineOptions): InferenceEngine {
  const { client, local, log } = opts;
  const prompts = opts.prompts ?? loadPrompts();

  /** One step: ask, check, ask once more on a bad answer; undefined value means fall back. */
  async function ask<T>(
    purpose: LlmCall["purpose"],
    messages: ChatMessage[],
    schema: { name: string; schema: TSchema },
    check: (data: unknown) => Checked<T>,
  ): Promise<{ value?: T; calls: LlmCall[]; fallback?: string }> {
    const calls: LlmCall[] = [];
    const promptVersion =
      purpose === "extract" ? prompts.extract.version : prompts.reconcile.version;
    let conversation = messages;
    for (let round = 1; round <= 2; round++) {
      const result = await client.complete({
        purpose,
        promptVersion,
        messages: conversation,
        schema,
      });
      calls.push(...result.calls);
      if (!result.ok) return { calls, fallback: `llm ${purpose} failed: ${result.error}` };
      const checked = checkOutput(result.content, schema.schema, check);
      if (checked.ok) return { value: checked.value, calls };
      if (round === 2) {
        return { calls, fallback: `llm ${purpose} output failed the schema twice: ${checked.why}` };
      }
      log?.warn(
        { purpose, promptVersion, why: checked.why },
        "llm output failed the schema, asking again",
      );
      conversation = [
        ...messages,
        { role: "assistant", content: result.content.slice(0, ECHO_MAX) },
        {
          role: "user",
          content: `That answer is invalid: ${checked.why}. Answer again with JSON that follows the schema exactly.`,
        },
      ];
    }
    throw new Error("unreachable");
  }

  async function handOver<T>(
    step: { calls: LlmCall[]; fallback?: string },
    run: () => Promise<EngineOutcome<T>>,
  ): Promise<EngineOutcome<T>> {
    log?.warn({ reason: step.fallback }, "llm step handed to the local engine");
    const outcome = await run();
    return {
      value: outcome.value,
      calls: [...step.calls, ...outcome.calls],
      fallback: step.fallback,
    };
  }

  return {
    name: "llm",

    async extract(messages: SourceMessage[], extractOpts?: ExtractOptions) {
      if (messages.length === 0) return { value: [], calls: [] };
      const categories = extractOpts?.categories ?? opts.categories ?? [];
      const names = categories.map((c) => c.name);
      const system = prompts.extract.text
        .replace("{{categories}}", categoryList(categories))
        .replace("{{attribute_keys}}", ATTRIBUTE_KEYS.map((k) => `\`${k}\``).join(", "));
      const input = {
        messages: messages.map((m) => ({
          index: m.index,
          role: m.role,
          speaker: m.speaker,
          time: m.time.toISOString(),
          content: m.content,
        })),
      };
      const step = await ask(
        "extract",
        [
          { role: "system", content: system },
          { role: "user", content: JSON.stringify(input) },
        ],
        extractSchema(names),
        (data) => toFacts(data as ExtractOutput, messages, names),
      );
      if (step.value === undefined)
        return handOver(step, () => local.extract(messages, extractOpts));
      return { value: step.value, calls: step.calls };
    },

    async reconcile(fact: Fact, neighbours: Neighbour[], reconcileOpts: ReconcileOptions) {
      const input = {
        fact: {
          text: fact.text,
          valid_from: fact.validFrom,
          attribute: fact.attribute ?? null,
          negates: fact.negates ?? false,
          entities: fact.entities,
        },
        neighbours: neighbours.map((n) => ({
          id: n.id,
          memory: n.memory,
          similarity: Math.round(n.similarity * 1000) / 1000,
          attribute: n.attribute,
          valid_from: n.validFrom,
        })),
        duplicate_threshold: reconcileOpts.duplicateThreshold,
      };
      const step = await ask(
        "reconcile",
        [
          { role: "system", content: prompts.reconcile.text },
          { role: "user", content: JSON.stringify(input) },
        ],
        RECONCILE_SCHEMA,
        (data) => toDecision(data as ReconcileOutput, fact, neighbours),
      );
      if (step.value === undefined) {
        return handOver(step, () => local.reconcile(fact, neighbours, reconcileOpts));
      }
      return { value: step.value, calls: step.calls };
    },
  };
}

function categoryList(categories: Category[]): string {
  if (categories.length === 0) return "(none: leave categories out)";
  return categories.map((c) => `  - ${c.name}: ${c.description}`).join("\n");
}

/** The model's facts as engine facts, or why they cannot be (checks the schema cannot express). */
function toFacts(out: ExtractOutput, messages: SourceMessage[], names: string[]): Checked<Fact[]> {
  if (out.facts.length > MAX_FACTS) return bad(`more than ${MAX_FACTS} facts`);
  const times = new Map(messages.map((m) => [m.index, m.time]));
  const facts: Fact[] = [];
  for (const [i, f] of out.facts.entries()) {
    const at = `/facts/${i}`;
    const text = f.text.trim();
    if (text === "") return bad(`${at}/text is empty`);
    if (text.length > MEMORY_TEXT_MAX) return bad(`${at}/text is longer than ${MEMORY_TEXT_MAX}`);
    const sources = [...new Set(f.source_indexes)].sort((a, b) => a - b);
    if (sources.length === 0) return bad(`${at}/source_indexes is empty`);
    const unknown = sources.find((s) => !times.has(s));
    if (unknown !== undefined) return bad(`${at}/source_indexes names no message ${unknown}`);
    let validFrom = (times.get(sources[0] as number) as Date).toISOString();
    if (f.valid_from !== null) {
      const date = isoDate(f.valid_from);
      if (date === undefined)
        return bad(`${at}/valid_from "${f.valid_from.slice(0, 40)}" is not an ISO 8601 date`);
      validFrom = date;
    }
    let attribute: Attribute | undefined;
    if (f.attribute !== null) {
      const subject = f.attribute.subject.trim().toLowerCase();
      const key = f.attribute.key
        .trim()
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "_")
        .replace(/^_|_$/g, "");
      const value = f.attribute.value.trim();
      if (!subject || !key || !value)
        return bad(`${at}/attribute has an empty subject, key or value`);
      attribute = { subject, key, value };
    }
    const mentions = toMentions(f, at);
    if (!mentions.ok) return mentions;
    const entities = [
      ...new Set(mentions.value.entities.map((e) => e.name.toLowerCase()).filter(Boolean)),
    ];
    const fact: Fact = { text, sources, validFrom, entities, mentions: mentions.value };
    if (attribute) fact.attribute = attribute;
    if (f.negates) fact.negates = true;
    // Without configured categories the schema has none; with them, strict output keeps to the names.
    if (names.length > 0) fact.categories = [...new Set(f.categories ?? [])];
    facts.push(fact);
  }
  return { ok: true, value: facts };
}

/**
 * A fact's typed entities and relations (extract.v2). Names are trimmed and kept once per lower-case
 * form; a relation's subject or object the model did not list joins as `other`. Names longer than
 * an entity name may be are dropped, and so are relations that lose an end; bad dates are refused.
 */
function toMentions(f: ExtractOutput["facts"][number], at: string): Checked<Extraction> {
  const entities: EntityMention[] = [];
  const index = new Map<string, number>();
  const add = (raw: string, type: EntityType, aliases: readonly string[]): number => {
    const name = raw.trim();
    const key = name.toLowerCase();
    if (name === "" || name.length > ENTITY_NAME_MAX) return -1;
    let i = index.get(key);
    if (i === undefined) {
      if (entities.length >= MAX_ENTITIES) return -1;
      i = entities.push({ type, name, aliases: [] }) - 1;
      index.set(key, i);
    }
    const entity = entities[i] as EntityMention;
    for (const alias of aliases.map((a) => a.trim())) {
      if (entity.aliases.length >= MAX_ALIASES) break;
      if (alias === "" || alias.length > ENTITY_NAME_MAX || alias.toLowerCase() === key) continue;
      if (!entity.aliases.some((a) => a.toLowerCase() === alias.toLowerCase())) {
        entity.aliases.push(alias);
      }
    }
    return i;
  };
  for (const e of f.entities) add(e.name, e.type as EntityType, e.aliases);
  const relations: Extraction["relations"] = [];
  for (const [j, r] of f.relations.slice(0, MAX_RELATIONS).entries()) {
    const dates: (string | undefined)[] = [];
    for (const [field, value] of [
      ["valid_from", r.valid_from],
      ["valid_to", r.valid_to],
    ] as const) {
      const date = value === null ? undefined : isoDate(value);
      if (value !== null && date === undefined) {
        return bad(`${at}/relations/${j}/${field} "${value.slice(0, 40)}" is not an ISO 8601 date`);
      }
      dates.push(date);
    }
    const subject = index.get(r.subject.trim().toLowerCase()) ?? add(r.subject, "other", []);
    const object = index.get(r.object.trim().toLowerCase()) ?? add(r.object, "other", []);
    if (subject < 0 || object < 0 || subject === object || r.predicate.trim() === "") continue;
    relations.push({
      subject,
      predicate: r.predicate.trim(),
      object,
      validFrom: dates[0],
      validTo: dates[1],
    });
  }
  return { ok: true, value: { entities, relations } };
}

/** The model's decision, or why it cannot be used (a target it was not given, an empty text). */
function toDecision(out: ReconcileOutput, fact: Fact, neighbours: Neighbour[]): Checked<Decision> {
  const reason = out.reason.trim() || `the model chose ${out.event}`;
  const event = out.event as Decision["event"];
  if (event === "ADD") {
    return { ok: true, value: { event, text: out.text.trim() || fact.text, reason } };
  }
  if (out.target_id === null) return bad(`/target_id is null for ${event}`);
  const target = neighbours.find((n) => n.id === out.target_id);
  if (!target)
    return bad(`/target_id "${out.target_id.slice(0, 64)}" is not one of the neighbours`);
  const text = out.text.trim();
  if (event === "UPDATE") {
    if (text === "") return bad("/text is empty for UPDATE");
    if (text.length > MEMORY_TEXT_MAX) return bad(`/text is longer than ${MEMORY_TEXT_MAX}`);
    const supersede = out.supersede;
    return { ok: true, value: { event, targetId: target.id, supersede, text, reason } };
  }
  return { ok: true, value: { event, targetId: target.id, text: target.memory, reason } };
}

/** "2026-10-01" or a full ISO 8601 timestamp, as a timestamp; undefined when it is neither. */
function isoDate(value: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim()))
    return undefined;
  const time = Date.parse(value.trim());
  return Number.isFinite(time) ? new Date(time).toISOString() : undefined;
}

const bad = (why: string): { ok: false; why: string } => ({ ok: false, why });
