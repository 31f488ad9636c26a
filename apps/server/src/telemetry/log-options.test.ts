import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import Fastify from "fastify";
import { pino } from "pino";
import type { Database } from "../db/database.ts";
import { errorHandler } from "../http/problem.ts";
import { AppError } from "../lib/errors.ts";
import { seedTenant, testDatabases } from "../testing/test-databases.ts";
import { logOptions } from "./log-options.ts";

/** A pino destination that keeps every line written to it, parsed. */
function captured() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  return { stream, lines, parsed: () => lines.map((l) => JSON.parse(l)) };
}

const SECRET_FILENAME = "payroll-2025-confidential.pdf";
// Cut short: not valid JSON, so the server reports where in it the parse stopped.
const SECRET_METADATA = '{"salary":"98765", "note":';

for (const backend of testDatabases) {
  describe(`error logs on ${backend.name} carry no SQL parameters or row data`, () => {
    let db: Database;
    let tenantId: string;
    let dbError: Error;

    before(async () => {
      db = await backend.open();
      tenantId = await seedTenant(db, "logs");
      // Metadata that is no JSON, in a statement with parameters: PGlite's error carries the
      // query and its params, node-postgres's a `where` quoting the JSON text.
      dbError = await db
        .withTenant(tenantId, (tx) =>
          tx.query(
            `INSERT INTO documents (id, tenant_id, project_id, filename, metadata, media_type,
               size_bytes, content_sha256, status)
             VALUES ('doc_x', $1, 'prj_x', $2, $3::jsonb, 'text/plain', 1, '\\x00', 'queued')`,
            [tenantId, SECRET_FILENAME, SECRET_METADATA],
          ),
        )
        .then(
          () => assert.fail("the insert should fail"),
          (err: Error) => err,
        );
    });
    after(() => db.close());

    function assertClean(line: string) {
      for (const secret of [SECRET_FILENAME, "98765", tenantId]) {
        assert.ok(!line.includes(secret), `${secret} leaked into ${line}`);
      }
    }

    test("the error really carries them (or this test would prove nothing)", () => {
      const everything = JSON.stringify(dbError, Object.getOwnPropertyNames(dbError));
      assert.ok(everything.includes("98765"), everything.slice(0, 500));
    });

    test("pino with logOptions keeps type, message, code and stack only", () => {
      const out = captured();
      const log = pino(logOptions("info", "engram-worker"), out.stream);
      log.error({ err: dbError, tenantId: "t" }, "ingest attempt failed");
      // As the Postgres adapter maps a connection failure: an AppError caused by the DB error.
      const wrapped = new AppError("service_unavailable", "The database is unavailable");
      wrapped.cause = dbError;
      log.warn({ err: wrapped }, "wrapped");
      log.warn({ err: new AggregateError([dbError], "several") }, "aggregate");
      const [first, second, third] = out.parsed();
      assert.deepEqual(Object.keys(first.err).sort(), ["code", "message", "stack", "type"]);
      assert.equal(first.err.code, "22P02");
      assert.match(first.err.message, /invalid input syntax for type json/);
      assert.equal(second.err.cause.code, "22P02");
      assert.deepEqual(Object.keys(second.err.cause).sort(), ["code", "message", "stack", "type"]);
      assert.equal(third.err.errors[0].code, "22P02");
      for (const line of out.lines) assertClean(line);
    });

    test("the HTTP error handler's log (Fastify with logOptions) is clean too", async () => {
      const out = captured();
      const app = Fastify({ logger: { ...logOptions("info"), stream: out.stream } });
      app.setErrorHandler(errorHandler);
      app.get("/boom", async () => {
        throw dbError;
      });
      const res = await app.inject({ method: "GET", url: "/boom" });
      await app.close();
      assert.equal(res.statusCode, 500);
      assert.doesNotMatch(res.body, /payroll|INSERT/);
      const logged = out.parsed().find((l) => l.msg === "unhandled error");
      assert.ok(logged, out.lines.join("\n"));
      assert.equal(logged.err.code, "22P02");
      for (const line of out.lines) assertClean(line);
    });
  });
}
