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
  /\b(was|were|did|had|went|ago|last|moved|started|joined|got|left|quit|became|\w+ed)\b/i;
const FUTURE = /\b(will|'ll|going to|gonna|next|plan(ning)? to|about to)\b/i;

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

function render(precision: Precision, year: number, month: number, day: number): string {
  const name = MONTHS[month - 1] ?? "";
  switch (precision) {
    case "day":
      return `on ${day} ${name} ${year}`;
    case "week":
      return `in the week of ${day} ${name} ${year}`;
    case "month":
      return `in ${name} ${year}`;
    case "year":
      return `in ${year}`;
  }
}

/** Resolves the sentence's relative dates against `reference` (UTC) and rewrites them. */
export function resolveDates(sentence: string, reference: Date): ResolvedDates {
  if (!DATE_HINT.test(sentence)) return { text: sentence, eventDate: bareYear(sentence) };
  let results: chrono.ParsedResult[];
  try {
    results = chrono.parse(sentence, { instant: reference, timezone: "UTC" });
  } catch {
    return { text: sentence, eventDate: null };
  }
  let text = sentence;
  let eventDate: Date | null = null;
  // Replace from the end so earlier indexes stay valid.
  for (const result of [...results].reverse()) {
    if (NOT_A_DATE.test(result.text.trim())) continue;
    const precision = precisionOf(result);
    if (precision === null) continue;
    const c = result.start;
    let year = c.get("year") ?? reference.getUTCFullYear();
    let month = c.get("month") ?? 1;
    let day = c.get("day") ?? 1;
    // chrono picks the nearest year for "in March" or "on 3 May"; the sentence's tense says which.
    if (
      !c.isCertain("year") &&
      !/\b(ago|last|next|yesterday|tomorrow|today)\b/i.test(result.text)
    ) {
      const candidate = Date.UTC(year, month - 1, day);
      if (candidate > reference.getTime() && PAST.test(sentence) && !FUTURE.test(sentence))
        year -= 1;
      else if (candidate < reference.getTime() && FUTURE.test(sentence) && !PAST.test(sentence))
        year += 1;
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
    eventDate = new Date(start);
    // "on 3 March 1990" is already absolute: keep the speaker's words.
    if (/\b\d{4}\b/.test(result.text)) continue;
    let from = result.index;
    const to = result.index + result.text.length;
    let replacement = render(precision, year, month, day);
    // "in March", "on Friday", "at 5pm tomorrow": the preposition is part of the new form.
    const before = text.slice(0, from);
    const prep = /\b(in|on|at|during|by)\s+$/i.exec(before);
    if (prep && /^(in|on)\s/.test(replacement)) from -= prep[0].length;
    if (c.isCertain("hour")) {
      replacement += ` at ${pad(c.get("hour") ?? 0)}:${pad(c.get("minute") ?? 0)}`;
    }
    if (from === 0) replacement = replacement.charAt(0).toUpperCase() + replacement.slice(1);
    text = text.slice(0, from) + replacement + text.slice(to);
  }
  return {
    text: text.replace(/\b(in|on) (in|on) /gi, "$2 "),
    eventDate: eventDate ?? bareYear(sentence),
  };
}

/** "in 2019", "since 2019": chrono leaves bare years alone, but they still date a fact. */
function bareYear(sentence: string): Date | null {
  const m = /\b(?:in|since|from)\s+((?:19|20)\d{2})\b/i.exec(sentence);
  return m?.[1] ? new Date(Date.UTC(Number(m[1]), 0, 1)) : null;
}
