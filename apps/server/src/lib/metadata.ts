import { AppError } from "./errors.ts";

/** Largest metadata object accepted (of a memory or a document), serialized as JSON. */
const METADATA_MAX_BYTES = 16 * 1024;

/** Refuses metadata larger than METADATA_MAX_BYTES, naming `field`; absent metadata passes. */
export function checkMetadataSize(metadata: unknown, field: string): void {
  if (metadata === undefined) return;
  if (Buffer.byteLength(JSON.stringify(metadata)) > METADATA_MAX_BYTES) {
    throw new AppError(
      "validation_failed",
      `metadata is larger than ${METADATA_MAX_BYTES} bytes`,
      field,
    );
  }
}
