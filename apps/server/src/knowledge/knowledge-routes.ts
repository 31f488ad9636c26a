import { createHash } from "node:crypto";
import {
  CreateDocumentBody,
  CreateDocumentResponse,
  DeleteDocumentResponse,
  IdParams,
  IngestJob,
  KnowledgeDocument,
  ListDocumentsQuery,
  ListDocumentsResponse,
  ListJobsQuery,
  ListJobsResponse,
  SearchKnowledgeBody,
  SearchKnowledgeResponse,
} from "@engram/contract";
import multipart, {
  type Multipart,
  type MultipartFile,
  type MultipartValue,
} from "@fastify/multipart";
import type { FastifyRequest } from "fastify";
import Type, { type Static } from "typebox";
import type { App } from "../http/app.ts";
import { type Auth, ctxOf } from "../http/auth.ts";
import { idempotencyOf, problemResponses } from "../http/route-helpers.ts";
import { parseJsonField } from "../http/untrusted-json.ts";
import { bodyValidator } from "../http/validation.ts";
import { AppError } from "../lib/errors.ts";
import type { KnowledgeService, Upload } from "./knowledge-service.ts";

const docs = { tags: ["knowledge"], security: [{ apiKey: [] }] };
/** Bytes of one text field; the schema bounds each field further (metadata by the service). */
const FIELD_MAX = 16 * 1024;

/**
 * The text fields of a multipart upload: the JSON body's fields but the content (the `file` part
 * carries it), all optional (filename defaults to the file's). Checked by the same validator as
 * the JSON body, so NUL, lone surrogates, nesting, reserved metadata keys and sizes are refused
 * the same way whichever form the upload takes.
 */
const MultipartFields = Type.Partial(Type.Omit(CreateDocumentBody, ["text", "content_base64"]), {
  additionalProperties: false,
});
const checkFields = bodyValidator<Static<typeof MultipartFields>>(MultipartFields);

/** Multipart's own refusals, as problems in our words (they cannot tell which field). */
function multipartError(err: { code?: string }): unknown {
  if (err.code === "FST_PROTO_VIOLATION") {
    return new AppError(
      "validation_failed",
      "A field is named like an object property (__proto__, constructor, …)",
    );
  }
  if (err.code === "FST_INVALID_JSON_FIELD_ERROR") {
    return new AppError("validation_failed", "A field sent as application/json is not valid JSON");
  }
  return err;
}

/** The document's bytes from the part named `file`. */
async function readFilePart(part: MultipartFile, maxBytes: number) {
  if (part.fieldname !== "file") {
    throw new AppError(
      "validation_failed",
      `Unknown file part "${part.fieldname}"; send the document in a part named file`,
      part.fieldname,
    );
  }
  const content = await part.toBuffer().catch((err: { code?: string }) => {
    if (err.code === "FST_REQ_FILE_TOO_LARGE") {
      throw new AppError(
        "payload_too_large",
        `The document is larger than ${maxBytes} bytes`,
        "file",
      );
    }
    throw err;
  });
  return { content, filename: part.filename, mediaType: part.mimetype };
}

/** A text field's value; metadata parsed from its JSON text (the schema checks it afterwards). */
function fieldValue(part: MultipartValue): unknown {
  if (part.valueTruncated) {
    throw new AppError(
      "validation_failed",
      `"${part.fieldname}" is longer than ${FIELD_MAX} bytes`,
      part.fieldname,
    );
  }
  // A part sent as application/json has been parsed by multipart already, with the same refusals.
  return part.fieldname === "metadata" && typeof part.value === "string"
    ? parseJsonField(part.value, "metadata")
    : part.value;
}

/** Reads a multipart upload: one `file` part plus optional text fields (metadata as JSON). */
async function readMultipart(request: FastifyRequest, maxBytes: number): Promise<Upload> {
  let file: Awaited<ReturnType<typeof readFilePart>> | undefined;
  const fields: Record<string, unknown> = {};
  // The first refusal is answered once the body is read to its end: a client still sending
  // would otherwise see a reset connection instead of the 400.
  let refusal: AppError | undefined;
  const drain = (part: Multipart) => {
    if (part.type === "file") part.file.resume();
  };
  try {
    for await (const part of request.parts({
      limits: { fileSize: maxBytes, files: 1, fields: 10, fieldSize: FIELD_MAX, parts: 12 },
    })) {
      if (refusal) {
        drain(part);
        continue;
      }
      try {
        if (part.type === "file") file = await readFilePart(part, maxBytes);
        else fields[part.fieldname] = fieldValue(part);
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        refusal = err;
        drain(part);
      }
    }
  } catch (err) {
    // Multipart raises its own error for a part already refused (a file over the limit).
    throw refusal ?? multipartError(err as { code?: string });
  }
  if (refusal) throw refusal;
  if (!file) {
    throw new AppError("validation_failed", "Send the document in a part named file", "file");
  }
  const f = checkFields(fields);
  return {
    filename: f.filename ?? file.filename ?? "upload",
    mediaType: f.media_type ?? file.mediaType,
    content: file.content,
    metadata: f.metadata,
    user_id: f.user_id,
    agent_id: f.agent_id,
    session_id: f.session_id,
    collection: f.collection,
  };
}

/** /v1/documents, /v1/jobs and /v1/knowledge/search: thin adapters over the knowledge verbs. */
export async function registerKnowledgeRoutes(
  app: App,
  knowledge: KnowledgeService,
  auth: Auth,
  maxBytes: number,
) {
  const onRequest = auth.tenant;
  await app.register(async (scope) => {
    // Multipart only here: every other route stays JSON-only.
    await scope.register(multipart);
    scope.post(
      "/v1/documents",
      {
        onRequest,
        // Base64 grows the bytes by a third; the document limit itself is checked on the bytes.
        bodyLimit: Math.ceil((maxBytes * 4) / 3) + 64 * 1024,
        schema: {
          ...docs,
          operationId: "createDocument",
          summary:
            "Upload a document (multipart `file`, or JSON with text or content_base64); ingested asynchronously",
          body: { content: { "application/json": { schema: CreateDocumentBody } } } as never,
          response: { 202: CreateDocumentResponse, ...problemResponses },
        },
      },
      async (request, reply) => {
        const ctx = ctxOf(request);
        const upload = request.isMultipart()
          ? await readMultipart(request, maxBytes)
          : knowledge.decodeJsonBody(request.body as CreateDocumentBody);
        // The same upload, however sent (multipart or JSON), is the same request.
        const idem = idempotencyOf(request, {
          ...upload,
          content: createHash("sha256").update(upload.content).digest("hex"),
        });
        return reply.status(202).send(await knowledge.createDocument(ctx, upload, idem));
      },
    );
  });

  app.get(
    "/v1/documents",
    {
      onRequest,
      schema: {
        ...docs,
        operationId: "listDocuments",
        querystring: ListDocumentsQuery,
        response: { 200: ListDocumentsResponse, ...problemResponses },
      },
    },
    async (request) => knowledge.listDocuments(ctxOf(request), request.query),
  );

  app.get(
    "/v1/documents/:id",
    {
      onRequest,
      schema: {
        ...docs,
        operationId: "getDocument",
        params: IdParams,
        response: { 200: KnowledgeDocument, ...problemResponses },
      },
    },
    async (request) => knowledge.getDocument(ctxOf(request), request.params.id),
  );

  app.delete(
    "/v1/documents/:id",
    {
      onRequest,
      schema: {
        ...docs,
        operationId: "deleteDocument",
        summary: "Delete a document with its chunks and vectors (cancels its ingestion)",
        params: IdParams,
        response: { 200: DeleteDocumentResponse, ...problemResponses },
      },
    },
    async (request) => knowledge.deleteDocument(ctxOf(request), request.params.id),
  );

  app.get(
    "/v1/jobs",
    {
      onRequest,
      schema: {
        ...docs,
        operationId: "listJobs",
        summary: "Ingestion jobs, newest first; state=dead lists the dead-letter queue",
        querystring: ListJobsQuery,
        response: { 200: ListJobsResponse, ...problemResponses },
      },
    },
    async (request) => knowledge.listJobs(ctxOf(request), request.query),
  );

  app.get(
    "/v1/jobs/:id",
    {
      onRequest,
      schema: {
        ...docs,
        operationId: "getJob",
        params: IdParams,
        response: { 200: IngestJob, ...problemResponses },
      },
    },
    async (request) => knowledge.getJob(ctxOf(request), request.params.id),
  );

  app.post(
    "/v1/jobs/:id/retry",
    {
      onRequest,
      schema: {
        ...docs,
        operationId: "retryJob",
        summary: "Put a dead-lettered job back on the queue",
        params: IdParams,
        response: { 200: IngestJob, ...problemResponses },
      },
    },
    async (request) => knowledge.retryJob(ctxOf(request), request.params.id),
  );

  app.post(
    "/v1/knowledge/search",
    {
      onRequest,
      schema: {
        ...docs,
        operationId: "searchKnowledge",
        summary: "Hybrid search over document chunks, each hit with its citation",
        body: SearchKnowledgeBody,
        response: { 200: SearchKnowledgeResponse, ...problemResponses },
      },
    },
    async (request) => knowledge.searchKnowledge(ctxOf(request), request.body),
  );
}
