import { existsSync, readFileSync } from "node:fs";
import type { AddMemoryBody, EngramClient, SearchHit, SearchMemoriesBody } from "@engram/sdk";

interface Turn {
  speaker: string;
  dia_id: string;
  text: string;
  blip_caption?: string;
}
interface Qa {
  question: string;
  evidence?: string[];
  category: number;
}
export interface Conversation {
  sample_id: string;
  conversation: Record<string, unknown>;
  qa: Qa[];
}

export const LOCOMO_PATH = new URL("../../../shared/data/locomo-dev.json", import.meta.url);

/** The dev split, or undefined when ../shared/data/locomo-dev.json is not on this machine. */
export function loadLocomo(): Conversation[] | undefined {
  if (!existsSync(LOCOMO_PATH)) return undefined;
  return JSON.parse(readFileSync(LOCOMO_PATH, "utf8")) as Conversation[];
}

/** "1:56 pm on 8 May, 2023" → ISO 8601, or undefined when it does not parse. */
function sessionTime(text: unknown): string | undefined {
  if (typeof text !== "string") return undefined;
  const m = /^(\d{1,2}):(\d{2})\s*(am|pm) on (\d{1,2}) (\w+),? (\d{4})$/i.exec(text.trim());
  if (!m) return undefined;
  const [, h, min, ampm, day, month, year] = m;
  const hour = (Number(h) % 12) + ((ampm as string).toLowerCase() === "pm" ? 12 : 0);
  const date = new Date(`${month} ${day}, ${year} ${hour}:${min}:00 UTC`);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** Evidence ids such as "D8:6; D9:17" → ["D8:6", "D9:17"]; malformed entries are dropped. */
function evidenceIds(evidence: readonly string[] = []): string[] {
  return evidence.flatMap((e) => e.split(/[;,\s]+/)).filter((e) => /^D\d+:\d+$/.test(e));
}

/** A question recall is measured on: categories 1–4, with evidence turns. */
export function isRecallQuestion(qa: Conversation["qa"][number]): boolean {
  return qa.category >= 1 && qa.category <= 4 && evidenceIds(qa.evidence).length > 0;
}

/** One dialog turn: what was said (with its image caption), by whom, when. */
export interface DialogTurn {
  speaker: string;
  diaId: string;
  /** The turn's text plus its image caption, if any. */
  content: string;
  /** The session's date, when it parses. */
  timestamp?: string | undefined;
  /** The conversation's session key, e.g. "session_3". */
  session: string;
}

/** A conversation's sessions in order, each its turns in order, with the session's key. */
export function sessionsOf(conv: Conversation): DialogTurn[][] {
  const out: DialogTurn[][] = [];
  for (const [key, value] of Object.entries(conv.conversation)) {
    if (!/^session_\d+$/.test(key) || !Array.isArray(value)) continue;
    const timestamp = sessionTime(conv.conversation[`${key}_date_time`]);
    out.push(
      (value as Turn[]).map((turn) => ({
        speaker: turn.speaker,
        diaId: turn.dia_id,
        content: `${turn.text}${turn.blip_caption ? ` [shared an image: ${turn.blip_caption}]` : ""}`,
        timestamp,
        session: key,
      })),
    );
  }
  return out;
}

/** Every dialog turn as one verbatim memory body, scoped to its conversation, with its dia_id. */
export function turnsOf(conv: Conversation): AddMemoryBody[] {
  return sessionsOf(conv)
    .flat()
    .map((turn) => ({
      text: `${turn.speaker}: ${turn.content}`.slice(0, 16_384),
      user_id: conv.sample_id,
      session_id: `${conv.sample_id}-${turn.session}`,
      metadata: { dia_id: turn.diaId },
      ...(turn.timestamp ? { timestamp: turn.timestamp } : {}),
    }));
}

/**
 * The rankings compared: each side alone, the plain two-list fusion of the previous release
 * ("previous hybrid": every signal of ADR 0033 off), and today's hybrid, then hybrid without each
 * of its signals (what each one is worth).
 */
export const RECALL_MODES = [
  "vector",
  "keyword",
  "previous hybrid",
  "hybrid",
  "hybrid without entities",
  "hybrid without context",
] as const;
export type RecallMode = (typeof RECALL_MODES)[number];
const MODE_BODY: Record<RecallMode, Partial<SearchMemoriesBody>> = {
  vector: { mode: "vector" },
  keyword: { mode: "keyword" },
  "previous hybrid": { mode: "hybrid", signals: { entities: false, time: false, context: false } },
  hybrid: { mode: "hybrid" },
  "hybrid without entities": { mode: "hybrid", signals: { entities: false } },
  "hybrid without context": { mode: "hybrid", signals: { context: false } },
};
export const RECALL_KS = [5, 10, 25] as const;
type ByK = Record<(typeof RECALL_KS)[number], number>;
export type Recall<M extends string = RecallMode> = Record<M, ByK>;
/** LoCoMo's question categories 1–4 (5, adversarial, has no evidence to find). */
export const CATEGORIES = {
  4: "single-hop",
  1: "multi-hop",
  2: "temporal",
  3: "open-domain",
} as const;
export type ByCategory<M extends string = RecallMode> = Record<
  M,
  Record<string, ByK & { questions: number }>
>;

/** Each question's recall, in the order the questions were asked (the same order every run). */
export type PerQuestion<M extends string = RecallMode> = Record<
  M,
  Record<(typeof RECALL_KS)[number], number[]>
>;

export interface RecallResult {
  questions: number;
  memories: number;
  recall: Recall;
  byCategory: ByCategory;
  perQuestion: PerQuestion;
}

/**
 * One question's search in ranking `mode`, within conversation `userId`'s scope: the ranked
 * results (at least 25 when there are), each as the dialog turns (dia_ids) it stands for.
 */
export type TurnSearch<M extends string> = (
  query: string,
  userId: string,
  mode: M,
) => Promise<readonly (readonly string[])[]>;

/**
 * Turn-level evidence recall@k per ranking mode over the questions of categories 1–4 with
 * evidence, each searched within its conversation's scope: the share of a question's evidence
 * turns that the top k results cover.
 */
export async function turnRecall<M extends string>(
  data: readonly Conversation[],
  search: TurnSearch<M>,
  modes: readonly M[],
): Promise<{
  questions: number;
  recall: Recall<M>;
  byCategory: ByCategory<M>;
  perQuestion: PerQuestion<M>;
}> {
  const zero = () => ({ 5: 0, 10: 0, 25: 0 });
  const sums = Object.fromEntries(modes.map((m) => [m, zero()])) as Recall<M>;
  const byCategory = Object.fromEntries(
    modes.map((m) => [
      m,
      Object.fromEntries(Object.values(CATEGORIES).map((c) => [c, { ...zero(), questions: 0 }])),
    ]),
  ) as ByCategory<M>;
  const perQuestion = Object.fromEntries(
    modes.map((m) => [m, { 5: [] as number[], 10: [] as number[], 25: [] as number[] }]),
  ) as PerQuestion<M>;
  let questions = 0;
  for (const conv of data) {
    for (const qa of conv.qa) {
      if (!isRecallQuestion(qa)) continue;
      const evidence = new Set(evidenceIds(qa.evidence));
      questions++;
      const category = CATEGORIES[qa.category as keyof typeof CATEGORIES];
      for (const mode of modes) {
        const results = await search(qa.question.slice(0, 4096), conv.sample_id, mode);
        const cat = byCategory[mode][category] as ByK & { questions: number };
        cat.questions++;
        for (const k of RECALL_KS) {
          const top = new Set(results.slice(0, k).flat());
          const found = [...evidence].filter((e) => top.has(e)).length;
          sums[mode][k] += found / evidence.size;
          cat[k] += found / evidence.size;
          perQuestion[mode][k].push(found / evidence.size);
        }
      }
    }
  }
  for (const mode of modes) {
    for (const k of RECALL_KS) {
      sums[mode][k] /= Math.max(questions, 1);
      for (const cat of Object.values(byCategory[mode])) cat[k] /= Math.max(cat.questions, 1);
    }
  }
  return { questions, recall: sums, byCategory, perQuestion };
}

/** One question's search through Engram's API in `mode`, where `turnsOfHit` says which turns a result stands for. */
export function engramTurnSearch(
  client: EngramClient,
  turnsOfHit: (hit: SearchHit) => readonly string[],
): TurnSearch<RecallMode> {
  return async (query, userId, mode) => {
    const { results } = await client.searchMemories({
      query,
      user_id: userId,
      limit: 25,
      ...MODE_BODY[mode],
    });
    return results.map(turnsOfHit);
  };
}

/** turnRecall through Engram's search API, where `turnsOfHit` says which turns a result stands for. */
export function evidenceRecall(
  client: EngramClient,
  data: readonly Conversation[],
  turnsOfHit: (hit: SearchHit) => readonly string[],
  modes: readonly RecallMode[] = RECALL_MODES,
) {
  return turnRecall(data, engramTurnSearch(client, turnsOfHit), modes);
}

/** Adds every dialog turn of `data` verbatim through the batch API (500 per call); the count kept. */
export async function ingestTurns(
  client: EngramClient,
  data: readonly Conversation[],
): Promise<number> {
  let memories = 0;
  for (const conv of data) {
    const bodies = turnsOf(conv);
    for (let i = 0; i < bodies.length; i += 500) {
      const res = await client.batchAddMemories({ memories: bodies.slice(i, i + 500) });
      memories += res.results.filter((r) => r.event === "ADD").length;
    }
  }
  return memories;
}

/** Ingests the dev split verbatim (one memory per turn) and measures its evidence recall@k. */
export async function locomoRecall(client: EngramClient): Promise<RecallResult | undefined> {
  const data = loadLocomo();
  if (!data) return undefined;
  const memories = await ingestTurns(client, data);
  const result = await evidenceRecall(client, data, (hit) => [String(hit.metadata.dia_id)]);
  return { ...result, memories };
}
