import { type ErrorCode, statusOf } from "@engram/contract";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { AppError } from "../lib/errors.ts";

const TITLES: Partial<Record<number, string>> = {
  400: "Bad Request",
  402: "Payment Required",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** An RFC 9457 problem body with Engram's stable code (sendProblem sends one). */
function problemBody(
  requestId: string,
  code: ErrorCode,
  detail: string,
  field?: string,
  extra?: Record<string, string | number>,
) {
  const status = statusOf(code);
  return {
    type: `https://engram.dev/problems/${code}`,
    title: TITLES[status] ?? "Error",
    status,
    code,
    detail,
    ...(field ? { field } : {}),
    ...extra,
    requestId,
  };
}

/**
 * The problem for an error met after a response has started (a stream's `error` event): an
 * AppError's own, anything else an internal error (logged, never described to the client).
 */
export function problemOfError(request: FastifyRequest, err: unknown) {
  return problemOf(request.id, err, () => {
    request.log.error({ err }, "chat failed after its stream started");
    return "The answer failed; try again";
  });
}

/**
 * The problem for an error thrown outside a route's own handling (a stream's `error` event, an
 * MCP tool call): an AppError's or a schema validation error's own, anything else an internal
 * error whose detail `internal` gives (after logging it; never the error's own message).
 */
export function problemOf(requestId: string, err: unknown, internal: () => string) {
  if (err instanceof AppError) {
    return problemBody(requestId, err.code, err.message, err.field, err.extra);
  }
  const v = err as ValidationError;
  if (v.validation) {
    const field = fieldOf(v);
    return problemBody(requestId, "validation_failed", describe(v, field), field);
  }
  return problemBody(requestId, "internal_error", internal());
}

/**
 * Sends an RFC 9457 problem with Engram's stable code, at the status the contract gives that code.
 * Never includes secrets or SQL.
 */
export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  code: ErrorCode,
  detail: string,
  field?: string,
  extra?: Record<string, string | number>,
) {
  return reply
    .status(statusOf(code))
    .type("application/problem+json")
    .send(problemBody(request.id, code, detail, field, extra));
}

type ValidationError = FastifyError & {
  validation?: {
    instancePath: string;
    keyword: string;
    message?: string;
    params: Record<string, unknown>;
    /** Set by Ajv on errors about an object's key (propertyNames). */
    propertyName?: string;
  }[];
  validationContext?: string;
};

/** The field a validation error is about, as a dotted path (`memories[3].text`). */
function fieldOf(err: ValidationError): string | undefined {
  const first = err.validation?.[0];
  if (!first) return undefined;
  const parts = first.instancePath
    .split("/")
    .filter(Boolean)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`));
  const extra = first.params.missingProperty ?? first.params.additionalProperty;
  if (typeof extra === "string") parts.push(`.${extra}`);
  const path = parts.join("").replace(/^\./, "");
  return path || err.validationContext;
}

function describe(err: ValidationError, field: string | undefined): string {
  const first = err.validation?.[0];
  if (!first) return "The request is not valid";
  if (first.keyword === "additionalProperties") return `Unknown field "${field}"`;
  if (first.keyword === "required") return `"${field}" is required`;
  if (first.propertyName !== undefined) {
    return first.keyword === "maxLength"
      ? `"${field}" has a key longer than ${first.params.limit} characters`
      : `"${field}" has a key ${JSON.stringify(first.propertyName.slice(0, 64))}, which is not allowed`;
  }
  return `"${field}" ${first.message ?? "is not valid"}`;
}

/**
 * Framework errors (Fastify, multipart) by their own 4xx status: the code for that status and a
 * detail in our words. Any other 4xx (400, 406 from multipart, 414) is a 400 validation_failed, so
 * the status sent is always the one the contract gives the code.
 */
const FRAMEWORK_PROBLEMS: Partial<Record<number, { code: ErrorCode; detail: string }>> = {
  404: { code: "not_found", detail: "No such route" },
  405: { code: "method_not_allowed", detail: "This method is not allowed here" },
  413: { code: "payload_too_large", detail: "The request body is too large" },
  415: { code: "unsupported_media_type", detail: "Send application/json" },
};

/** Maps every error to problem+json: AppErrors by code, framework errors by kind, others to 500. */
export function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (err instanceof AppError) {
    // A dependency being down is the operator's business even though the client got a clean 503.
    if (err.status >= 500) request.log.warn({ err }, err.message);
    return sendProblem(request, reply, err.code, err.message, err.field, err.extra);
  }
  const v = err as ValidationError;
  if (v.validation) {
    // An empty body parses as none (http/app.ts); a route that needs one says so plainly.
    // (A multipart upload has no parsed body either: its fields are validated on their own.)
    const multipart = /^multipart\//i.test(request.headers["content-type"] ?? "");
    if (v.validationContext === "body" && request.body === undefined && !multipart) {
      return sendProblem(request, reply, "validation_failed", "A JSON body is required", "body");
    }
    const field = fieldOf(v);
    return sendProblem(request, reply, "validation_failed", describe(v, field), field);
  }
  if (err.code === "FST_ERR_CTP_INVALID_JSON_BODY" || err.code === "FST_ERR_CTP_EMPTY_JSON_BODY") {
    return sendProblem(request, reply, "invalid_json", "The request body is not valid JSON");
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    const known = FRAMEWORK_PROBLEMS[err.statusCode];
    return sendProblem(
      request,
      reply,
      known?.code ?? "validation_failed",
      known?.detail ?? "The request is not valid",
    );
  }
  request.log.error({ err }, "unhandled error");
  return sendProblem(request, reply, "internal_error", "Something went wrong on our side");
}
