import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import type { FastifySchemaCompiler } from "fastify";

/**
 * Two validators: bodies are validated strictly (no type coercion, unknown fields rejected by the
 * schemas), while query strings and path params are coerced, since everything there is text.
 */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const make = (coerceTypes: boolean | "array") => {
    const ajv = new Ajv({
      coerceTypes,
      useDefaults: true,
      removeAdditional: false,
      allErrors: false,
      strict: false,
    });
    addFormats.default(ajv);
    return ajv;
  };
  const strict = make(false);
  const coercing = make("array");
  return ({ schema, httpPart }) =>
    (httpPart === "body" ? strict : coercing).compile(schema as object) as ReturnType<
      FastifySchemaCompiler<unknown>
    >;
}
