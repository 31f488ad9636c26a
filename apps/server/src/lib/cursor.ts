import { AppError } from "./errors.ts";
import { type IdPrefix, isId } from "./ids.ts";

/**
 * Lists page by id (ids sort by creation time): the cursor is the last id seen, base64url.
 * Decodes one, or undefined for the first page; anything that is not an id of this type is a 400.
 */
export function decodeIdCursor(cursor: string | undefined, prefix: IdPrefix): string | undefined {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, "base64url").toString();
  if (!isId(prefix, id)) throw new AppError("validation_failed", "cursor is not valid", "cursor");
  return id;
}

/** The cursor after a page (its last id), or null when there is no more. */
export function nextIdCursor(page: {
  rows: readonly { id: string }[];
  more: boolean;
}): string | null {
  const last = page.rows.at(-1);
  return page.more && last ? Buffer.from(last.id).toString("base64url") : null;
}

/** A list response: a page's rows in their response shape, and the cursor after them. */
export function pageOf<R extends { id: string }, T>(
  page: { rows: R[]; more: boolean },
  map: (row: R) => T,
): { results: T[]; next_cursor: string | null } {
  return { results: page.rows.map(map), next_cursor: nextIdCursor(page) };
}
