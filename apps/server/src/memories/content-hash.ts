import { createHash } from "node:crypto";

/** Normalization used for exact-duplicate detection: Unicode NFKC, trimmed, whitespace folded, lower case. */
export function normalizeText(text: string): string {
  return text.normalize("NFKC").trim().replace(/\s+/g, " ").toLowerCase();
}

/** The key of exact-duplicate detection (ADR 0005): SHA-256 of the normalized text, in hex. */
export function contentHash(text: string): string {
  return createHash("sha256").update(normalizeText(text)).digest("hex");
}
