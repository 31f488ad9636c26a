/**
 * Which memories a search or listing sees by their validity interval [valid_from, valid_to)
 * (docs/memories.md, "Validity and as_of"):
 * - by default the current ones (valid_to IS NULL);
 * - `asOf`: the ones valid at that instant (valid_from <= asOf < valid_to, an open end counting as
 *   still valid), superseded or not; it wins over `includeSuperseded`, which adds nothing to it;
 * - `includeSuperseded` alone: all of them.
 */
export interface Validity {
  /** An ISO 8601 instant the service has checked (checkTimestamp), sent as a parameter. */
  asOf?: string | undefined;
  includeSuperseded?: boolean | undefined;
}

/**
 * ` AND …` restricting rows to `validity`, its values appended to `params`; "" when every row
 * qualifies. `alias` is a trusted SQL prefix such as "m.".
 */
export function validitySql(validity: Validity, params: unknown[], alias = ""): string {
  if (validity.asOf !== undefined) {
    const p = `$${params.push(validity.asOf)}::timestamptz`;
    return ` AND ${alias}valid_from <= ${p} AND (${alias}valid_to IS NULL OR ${alias}valid_to > ${p})`;
  }
  if (validity.includeSuperseded === true) return "";
  return ` AND ${alias}valid_to IS NULL`;
}
