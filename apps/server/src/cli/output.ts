/**
 * Human output: aligned columns and label/value blocks, in plain text so `grep`, `awk` and
 * `cut` work on it (--json is the machine format). Long cells are cut with "…" to keep a row on
 * one line; widths count UTF-16 units, so wide characters can misalign a column (ADR 0040).
 */

const MAX_CELL = 60;

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
  /** Keep the whole value (ids, keys): never cut. */
  full?: boolean;
}

function cell(value: unknown, full = false): string {
  const text =
    value === null || value === undefined
      ? "-"
      : typeof value === "string"
        ? value
        : typeof value === "number" || typeof value === "boolean"
          ? String(value)
          : JSON.stringify(value);
  const oneLine = text.replace(/\s+/g, " ");
  return full || oneLine.length <= MAX_CELL ? oneLine : `${oneLine.slice(0, MAX_CELL - 1)}…`;
}

/** Rows under a header, columns separated by two spaces; "(none)" when there are no rows. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  if (rows.length === 0) return "(none)";
  const cells = rows.map((row) => columns.map((c) => cell(c.value(row), c.full)));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((r) => (r[i] ?? "").length)),
  );
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join("\n");
}

/** "label  value" lines, labels aligned; values are never cut. */
export function fields(pairs: readonly (readonly [string, unknown])[]): string {
  const width = Math.max(...pairs.map(([label]) => label.length));
  return pairs.map(([label, value]) => `${label.padEnd(width)}  ${cell(value, true)}`).join("\n");
}
