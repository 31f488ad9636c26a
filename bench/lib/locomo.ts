import { existsSync, readFileSync } from "node:fs";
import type { AddMemoryBody, EngramClient } from "@engram/sdk";

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
interface Conversation {
  sample_id: string;
  conversation: Record<string, unknown>;
  qa: Qa[];
}

export const LOCOMO_PATH = new URL("../../../shared/data/locomo-dev.json", import.meta.url);

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

/** Every dialog turn as one memory body, scoped to its conversation, with its dia_id. */
function turnsOf(conv: Conversation): AddMemoryBody[] {
  const out: AddMemoryBody[] = [];
  for (const [key, value] of Object.entries(conv.conversation)) {
    if (!/^session_\d+$/.test(key) || !Array.isArray(value)) continue;
    const timestamp = sessionTime(conv.conversation[`${key}_date_time`]);
    for (const turn of value as Turn[]) {
      const caption = turn.blip_caption ? ` [shared an image: ${turn.blip_caption}]` : "";
      out.push({
        text: `${turn.speaker}: ${turn.text}${caption}`.slice(0, 16_384),
        user_id: conv.sample_id,
        metadata: { dia_id: turn.dia_id },
        ...(timestamp ? { timestamp } : {}),
      });
    }
  }
  return out;
}

export interface RecallResult {
  questions: number;
  memories: number;
  recall: Record<"vector" | "keyword" | "hybrid", Record<5 | 10 | 25, number>>;
}

/** Ingests the dev split through the API and measures turn-level evidence recall@k per mode. */
export async function locomoRecall(client: EngramClient): Promise<RecallResult | undefined> {
  if (!existsSync(LOCOMO_PATH)) return undefined;
  const data = JSON.parse(readFileSync(LOCOMO_PATH, "utf8")) as Conversation[];
  let memories = 0;
  for (const conv of data) {
    const bodies = turnsOf(conv);
    for (let i = 0; i < bodies.length; i += 500) {
      const res = await client.batchAddMemories({ memories: bodies.slice(i, i + 500) });
      memories += res.results.filter((r) => r.event === "ADD").length;
    }
  }
  const modes = ["vector", "keyword", "hybrid"] as const;
  const ks = [5, 10, 25] as const;
  const sums = Object.fromEntries(
    modes.map((m) => [m, { 5: 0, 10: 0, 25: 0 }]),
  ) as RecallResult["recall"];
  let questions = 0;
  for (const conv of data) {
    for (const qa of conv.qa) {
      const evidence = new Set(evidenceIds(qa.evidence));
      if (qa.category < 1 || qa.category > 4 || evidence.size === 0) continue;
      questions++;
      for (const mode of modes) {
        const { results } = await client.searchMemories({
          query: qa.question.slice(0, 4096),
          user_id: conv.sample_id,
          limit: 25,
          mode,
        });
        const ranked = results.map((r) => String(r.metadata.dia_id));
        for (const k of ks) {
          const top = new Set(ranked.slice(0, k));
          const found = [...evidence].filter((e) => top.has(e)).length;
          sums[mode][k] += found / evidence.size;
        }
      }
    }
  }
  for (const mode of modes) for (const k of ks) sums[mode][k] /= Math.max(questions, 1);
  return { questions, memories, recall: sums };
}
