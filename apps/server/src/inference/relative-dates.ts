import * as chrono from "chrono-node";

/**
 * Relative times in a sentence ("yesterday", "last month", "next Friday", "in March") resolved
 * against when the message was said, in UTC, and written back in an absolute form keyword search
 * can match: "on 29 November 2026", "in October 2026", "in 2025".
 */

const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

export interface ResolvedDates {
  text: string;
  /** Start (UTC) of the first date the sentence mentions, if any. */
  eventDate: Date | null;
}

/** Cheap test before calling chrono: most sentences mention no time at all. */
const DATE_HINT =
  /\b(yesterday|today|tonight|tomorrow|ago|last|next|this|past|coming|week|weekend|month|year|morning|evening|afternoon|jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|july|august|september|october|november|december|mon|tue|wed|thu|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|saturday|sunday|\d{4}|\d{1,2}(st|nd|rd|th)?)\b/i;

/** Words chrono reads as a date that say nothing about when ("now", "currently"). */
const NOT_A_DATE = /^(right\s+)?now$|^currently$|^at the moment$/i;

const PAST =
  /\b(was|were|did|had|went|ago|last|got|left|quit|became|ran|saw|met|took|made|came|said|told|found|gave|bought|brought|thought|felt|lost|won|wrote|sent|spent|built|began|broke|chose|drove|ate|drank|flew|fell|held|kept|knew|paid|sat|slept|spoke|stood|taught|threw|woke|wore|caught|heard|sold|sang|swam|\w+ed)\b/i;
const FUTURE = /\b(will|'ll|going|gonna|next|plan(ning)? to|about to|tomorrow)\b/i;

type Precision = "day" | "week" | "month" | "year";

function precisionOf(result: chrono.ParsedResult): Precision | null {
  const c = result.start;
  if (c.isCertain("day") || c.isCertain("weekday")) {
    return /\b(last|this|next|past|coming)\s+week\b/i.test(result.text) ? "week" : "day";
  }
  if (c.isCertain("month")) return "month";
  if (c.isCertain("year")) return "year";
  return null;
}

const pad = (n: number): string => String(n).padStart(2, "0");

/** One date a sentence mentions, resolved against the time it was said (UTC). */
export interface ResolvedDate {
  /** Where chrono found it in the sentence, and the words it read. */
  index: number;
  text: string;
  precision: Precision;
  year: number;
  month: number;
  day: number;
  /** Start of the day, week (its Monday), month or year. */
  start: Date;
  /** "at 5pm": the hour and minute, when said. */
  time?: { hour: number; minute: number } | undefined;
}

/**
 * The dates a sentence mentions, in order, resolved against `reference` (UTC): chrono's readings
 * without "now", durations and spans ("for 4 years", "within a week", "the next few months"),
 * with the nearest "March" or "Friday" moved by the sentence's tense.
 */
export function datesIn(sentence: string, reference: Date): ResolvedDate[] {
  if (!DATE_HINT.test(sentence)) return [];
  let results: chrono.ParsedResult[];
  try {
    results = chrono.parse(sentence, { instant: reference, timezone: "UTC" });
  } catch {
    return [];
  }
  const dates: ResolvedDate[] = [];
  for (const result of results) {
    if (NOT_A_DATE.test(result.text.trim())) continue;
    // Durations and spans are not dates: "for 4 years", "within a week", "the next few months".
    const preceding = sentence.slice(0, result.index);
    if (/\b(for|over|within|the|every|each|per|a|all)\s*$/i.test(preceding)) continue;
    if (/^(for|within)\s/i.test(result.text)) continue;
    if (/\b(few|several|couple)\b/i.test(result.text) && !/\bago\b/i.test(result.text)) continue;
    const precision = precisionOf(result);
    if (precision === null) continue;
    const c = result.start;
    let year = c.get("year") ?? reference.getUTCFullYear();
    let month = c.get("month") ?? 1;
    let day = c.get("day") ?? 1;
    // chrono picks the nearest "Friday", "March" or "3 May"; the sentence's tense says which.
    if (
      !c.isCertain("year") &&
      !/\b(ago|last|next|this|yesterday|tomorrow|today|tonight)\b/i.test(result.text)
    ) {
      const candidate = Date.UTC(year, month - 1, day);
      const past = PAST.test(sentence) && !FUTURE.test(sentence);
      const future = FUTURE.test(sentence) && !PAST.test(sentence);
      const shift =
        candidate > reference.getTime() && past
          ? -1
          : candidate < reference.getTime() && future
            ? 1
            : 0;
      if (shift !== 0 && !c.isCertain("day") && !c.isCertain("month")) {
        // A weekday alone: the one a week before or after.
        const d = new Date(candidate);
        d.setUTCDate(d.getUTCDate() + 7 * shift);
        year = d.getUTCFullYear();
        month = d.getUTCMonth() + 1;
        day = d.getUTCDate();
      } else {
        year += shift;
      }
    }
    if (precision === "week") {
      // The Monday of that week.
      const d = new Date(Date.UTC(year, month - 1, day));
      d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
      year = d.getUTCFullYear();
      month = d.getUTCMonth() + 1;
      day = d.getUTCDate();
    }
    const start =
      precision === "year"
        ? Date.UTC(year, 0, 1)
        : precision === "month"
          ? Date.UTC(year, month - 1, 1)
          : Date.UTC(year, month - 1, day);
    dates.push({
      index: result.index,
      text: result.text,
      precision,
      year,
      month,
      day,
      start: new Date(start),
      time: c.isCertain("hour")
        ? { hour: c.get("hour") ?? 0, minute: c.get("minute") ?? 0 }
        : undefined,
    });
  }
  return dates;
}

/** A resolved date in the words a fact is written with: "29 November 2026", "October 2026". */
export function dateWords(
  date: Pick<ResolvedDate, "precision" | "year" | "month" | "day">,
): string {
  const name = MONTHS[date.month - 1] ?? "";
  switch (date.precision) {
    case "day":
      return `${date.day} ${name} ${date.year}`;
    case "week":
      return `the week of ${date.day} ${name} ${date.year}`;
    case "month":
      return `${name} ${date.year}`;
    case "year":
      return `${date.year}`;
  }
}

/** Resolves the sentence's relative dates against `reference` (UTC) and rewrites them. */
export function resolveDates(sentence: string, reference: Date): ResolvedDates {
  const dates = datesIn(sentence, reference);
  let text = sentence;
  // Replace from the end so earlier indexes stay valid.
  for (const date of [...dates].reverse()) {
    // "on 3 March 1990" is already absolute: keep the speaker's words.
    if (/\b\d{4}\b/.test(date.text)) continue;
    let from = date.index;
    const to = date.index + date.text.length;
    let replacement = `${date.precision === "day" ? "on" : "in"} ${dateWords(date)}`;
    // "in March", "on Friday", "at 5pm tomorrow": the preposition is part of the new form.
    const before = text.slice(0, from);
    const prep = /\b(in|on|at|during|by)\s+$/i.exec(before);
    if (prep) from -= prep[0].length;
    if (date.time) replacement += ` at ${pad(date.time.hour)}:${pad(date.time.minute)}`;
    if (from === 0) replacement = replacement.charAt(0).toUpperCase() + replacement.slice(1);
    text = text.slice(0, from) + replacement + text.slice(to);
  }
  return {
    text: text.replace(/\b(in|on) (in|on) /gi, "$2 "),
    eventDate: dates[0]?.start ?? bareYears(sentence)[0]?.start ?? null,
  };
}

/** "in 2019", "since 2019": chrono leaves bare years alone, but they still date a fact. */
export function bareYears(sentence: string): { index: number; text: string; start: Date }[] {
  return [...sentence.matchAll(/\b(?:in|since|from)\s+((?:19|20)\d{2})\b/gi)].map((m) => ({
    index: (m.index ?? 0) + m[0].length - (m[1] as string).length,
    text: m[1] as string,
    start: new Date(Date.UTC(Number(m[1]), 0, 1)),
  }));
}
