import * as chrono from "chrono-node";

/** A half-open time window [from, to) that a query names, and the words that named it. */
export interface TimeWindow {
  from: Date;
  to: Date;
  text: string;
}

const DAY = 86_400_000;
const SEASONS = { spring: 2, summer: 5, autumn: 8, fall: 8, winter: 11 } as const;

const utc = (y: number, m: number, d = 1) => new Date(Date.UTC(y, m, d));
const dayStart = (d: Date) => utc(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());

/**
 * A season as three months from its first (northern meteorological seasons: winter is December
 * to February). "last summer" is the latest summer that ended before the reference time, "this
 * summer" the one of the reference's year, "summer 2023" that year's.
 */
function season(query: string, reference: Date): TimeWindow | undefined {
  const m =
    /\b(?:(last|this|next)\s+)?(spring|summer|autumn|fall|winter)(?:\s+(?:of\s+)?((?:19|20)\d\d))?\b/i.exec(
      query,
    );
  if (!m || (m[1] === undefined && m[3] === undefined)) return undefined;
  const first = SEASONS[(m[2] as string).toLowerCase() as keyof typeof SEASONS];
  let year = m[3] !== undefined ? Number(m[3]) : reference.getUTCFullYear();
  const which = m[1]?.toLowerCase();
  const start = (y: number) => utc(y, first);
  if (which === "last") {
    while (utc(year, first + 3) > reference) year--;
  } else if (which === "next") {
    while (start(year) <= reference) year++;
  }
  return { from: start(year), to: utc(year, first + 3), text: m[0] };
}

/** The span one unit of a relative expression covers ("two weeks ago": a week). */
function unitSpan(text: string): number | undefined {
  if (/\bweekend\b/i.test(text)) return 3 * DAY;
  if (/\bweeks?\b/i.test(text)) return 7 * DAY;
  if (/\bmonths?\b/i.test(text)) return 30 * DAY;
  if (/\byears?\b/i.test(text)) return 365 * DAY;
  return undefined;
}

/**
 * The time window a search query names, resolved against `reference` (the request's
 * `reference_time`, default now), or undefined. A date names its day, a month its month, a year
 * its year ("in May 2023", "last year", "in 2022"); a relative expression one unit around the
 * date it resolves to ("two weeks ago": the week around 14 days before); a season three months
 * ("last summer"). Only the first expression counts.
 */
export function timeWindowOf(query: string, reference: Date): TimeWindow | undefined {
  const seasonal = season(query, reference);
  if (seasonal) return seasonal;
  const [parsed] = chrono.parse(query, reference);
  if (parsed) {
    const start = parsed.start;
    const date = start.date();
    if (parsed.end) {
      return {
        from: dayStart(date),
        to: new Date(dayStart(parsed.end.date()).getTime() + DAY),
        text: parsed.text,
      };
    }
    const span = unitSpan(parsed.text);
    if (span !== undefined && (start.isCertain("day") || start.isCertain("weekday"))) {
      // A relative date ("two weeks ago", "last weekend"): one unit centred on the day it names.
      const mid = dayStart(date).getTime() + DAY / 2;
      return { from: new Date(mid - span / 2), to: new Date(mid + span / 2), text: parsed.text };
    }
    const y = date.getUTCFullYear();
    if (start.isCertain("day")) {
      const from = dayStart(date);
      return { from, to: new Date(from.getTime() + DAY), text: parsed.text };
    }
    if (start.isCertain("month")) {
      return {
        from: utc(y, date.getUTCMonth()),
        to: utc(y, date.getUTCMonth() + 1),
        text: parsed.text,
      };
    }
    if (start.isCertain("year")) return { from: utc(y, 0), to: utc(y + 1, 0), text: parsed.text };
  }
  const year = /\b(?:in|during|of|from)\s+((?:19|20)\d\d)\b/i.exec(query);
  if (year) {
    const y = Number(year[1]);
    return { from: utc(y, 0), to: utc(y + 1, 0), text: year[0] };
  }
  return undefined;
}
