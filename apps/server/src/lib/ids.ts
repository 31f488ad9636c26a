import { monotonicFactory } from "ulid";

const next = monotonicFactory();

/** Every object type's id prefix. Ids sort by creation time (ULID), so ids double as cursors. */
export type IdPrefix =
  | "ten"
  | "prj"
  | "key"
  | "mem"
  | "hist"
  | "req"
  | "use"
  | "llm"
  | "aud"
  | "doc"
  | "job"
  | "chk"
  | "evt"
  | "ers"
  | "ent"
  | "rel"
  | "agt"
  | "cnv"
  | "msg"
  | "whk"
  | "dlv"
  | "whmsg";

/** A new prefixed, time-sortable id such as `mem_01JD3…`. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${next()}`;
}

/** True when `id` has the shape of an id of this type; anything else can never be found. */
export function isId(prefix: IdPrefix, id: string): boolean {
  return (
    id.length === prefix.length + 27 &&
    /^[a-z]+_[0-9A-HJKMNP-TV-Z]{26}$/.test(id) &&
    id.startsWith(`${prefix}_`)
  );
}
