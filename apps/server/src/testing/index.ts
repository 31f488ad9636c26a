// @engram/server/testing: the test harness (servers, databases, Redis, processes, fixtures), for
// tests and benchmarks; never for the server itself.
export * from "./document-fixtures.ts";
export * from "./engram-cli.ts";
export * from "./fake-openai.ts";
export * from "./fake-reranker.ts";
export * as hostile from "./hostile-documents.ts";
export * from "./http.ts";
export * from "./own-postgres.ts";
export * from "./probe.ts";
export * from "./run-process.ts";
export * from "./test-databases.ts";
export * from "./test-postgres.ts";
export * from "./test-redis.ts";
export * from "./test-server.ts";
export * from "./webhook-receiver.ts";
