import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, test } from "node:test";
import { ErrorCodes } from "@engram/contract";
import { assertProblem, type Reply, replyOf } from "../testing/http.ts";
import { ADMIN_TOKEN, startTestServer, type TestServer } from "../testing/test-server.ts";

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(() => srv.close());

async function call(
  method: string,
  path: string,
  opts: { token?: string; contentType?: string; body?: string } = {},
): Promise<Reply & { text: string }> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.contentType) headers["content-type"] = opts.contentType;
  const res = await fetch(`${srv.url}${path}`, {
    method,
    headers,
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
  return replyOf(res);
}

/** No credential ever comes back, in a body or a header. */
function assertNoSecrets(r: Reply & { text: string }, ...secrets: string[]) {
  const headers = JSON.stringify([...r.headers.entries()]);
  for (const secret of secrets) {
    assert.ok(!r.text.includes(secret), "a secret is in the body");
    assert.ok(!headers.includes(secret), "a secret is in a header");
  }
}

describe("OpenAPI and docs", () => {
  const operations: Record<string, [string, string]> = {
    addMemory: ["post", "/v1/memories"],
    batchAddMemories: ["post", "/v1/memories/batch"],
    searchMemories: ["post", "/v1/memories/search"],
    getMemory: ["get", "/v1/memories/{id}"],
    updateMemory: ["patch", "/v1/memories/{id}"],
    deleteMemory: ["delete", "/v1/memories/{id}"],
    listMemories: ["get", "/v1/memories"],
    deleteMemories: ["delete", "/v1/memories"],
    getMemoryHistory: ["get", "/v1/memories/{id}/history"],
    getCategories: ["get", "/v1/categories"],
    setCategories: ["put", "/v1/categories"],
    resetCategories: ["delete", "/v1/categories"],
    getEvent: ["get", "/v1/events/{id}"],
    getContext: ["post", "/v1/context"],
    eraseUser: ["delete", "/v1/users/{user_id}"],
    listUserErasures: ["get", "/v1/users/{user_id}/erasures"],
    getErasure: ["get", "/v1/erasures/{id}"],
    listEntities: ["get", "/v1/entities"],
    getEntity: ["get", "/v1/entities/{id}"],
    deleteEntity: ["delete", "/v1/entities/{id}"],
    listPlans: ["get", "/v1/admin/plans"],
    createTenant: ["post", "/v1/admin/tenants"],
    listTenants: ["get", "/v1/admin/tenants"],
    getTenant: ["get", "/v1/admin/tenants/{tenant_id}"],
    updateTenant: ["patch", "/v1/admin/tenants/{tenant_id}"],
    deleteTenant: ["delete", "/v1/admin/tenants/{tenant_id}"],
    createKey: ["post", "/v1/admin/tenants/{tenant_id}/keys"],
    invoicePreview: ["get", "/v1/admin/tenants/{tenant_id}/invoice-preview"],
    createOwnKey: ["post", "/v1/keys"],
    listKeys: ["get", "/v1/keys"],
    revokeKey: ["delete", "/v1/keys/{key_id}"],
    listProjects: ["get", "/v1/projects"],
    createProject: ["post", "/v1/projects"],
    getUsage: ["get", "/v1/usage"],
    getUsageHistory: ["get", "/v1/usage/history"],
    listAudit: ["get", "/v1/audit"],
    createDocument: ["post", "/v1/documents"],
    listDocuments: ["get", "/v1/documents"],
    getDocument: ["get", "/v1/documents/{id}"],
    deleteDocument: ["delete", "/v1/documents/{id}"],
    listJobs: ["get", "/v1/jobs"],
    getJob: ["get", "/v1/jobs/{id}"],
    retryJob: ["post", "/v1/jobs/{id}/retry"],
    searchKnowledge: ["post", "/v1/knowledge/search"],
    createAgent: ["post", "/v1/agents"],
    listAgents: ["get", "/v1/agents"],
    getAgent: ["get", "/v1/agents/{id}"],
    updateAgent: ["patch", "/v1/agents/{id}"],
    deleteAgent: ["delete", "/v1/agents/{id}"],
    getAgentConfig: ["get", "/v1/agents/{id}/config"],
    chat: ["post", "/v1/agents/{id}/chat"],
    listConversations: ["get", "/v1/conversations"],
    getConversation: ["get", "/v1/conversations/{id}"],
    deleteConversation: ["delete", "/v1/conversations/{id}"],
    setMessageFeedback: ["post", "/v1/messages/{id}/feedback"],
    createWebhook: ["post", "/v1/webhooks"],
    listWebhooks: ["get", "/v1/webhooks"],
    getWebhook: ["get", "/v1/webhooks/{id}"],
    updateWebhook: ["patch", "/v1/webhooks/{id}"],
    deleteWebhook: ["delete", "/v1/webhooks/{id}"],
    listWebhookDeliveries: ["get", "/v1/webhooks/{id}/deliveries"],
    redeliverWebhookDelivery: ["post", "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver"],
  };
  /**
   * The routes a widget calls: an agent's publishable key is accepted too. (The chat WebSocket,
   * GET /v1/agents/{id}/ws, is an upgrade OpenAPI cannot describe: docs/agents.md does.)
   */
  const widgetOperations = new Set(["getAgentConfig", "chat"]);

  test("GET /openapi.json is OpenAPI 3.1 with every /v1 route, its operationId and security", async () => {
    const r = await call("GET", "/openapi.json");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
    type Operation = {
      operationId?: string;
      security?: Record<string, unknown>[];
      responses?: Record<string, { content?: Record<string, { schema: ProblemSchema }> }>;
    };
    type ProblemSchema = { properties?: { code?: { enum?: string[] } } };
    const doc = JSON.parse(r.text) as {
      openapi: string;
      info: { title: string; version: string };
      paths: Record<string, Record<string, Operation>>;
      components: { securitySchemes: Record<string, { type: string; scheme: string }> };
    };
    assert.match(doc.openapi, /^3\.1\.\d+$/);
    assert.ok(doc.info.title && doc.info.version);
    assert.deepEqual(doc.components.securitySchemes.apiKey, {
      ...doc.components.securitySchemes.apiKey,
      type: "http",
      scheme: "bearer",
    });
    assert.equal(doc.components.securitySchemes.adminToken?.type, "http");
    assert.equal(doc.components.securitySchemes.adminToken?.scheme, "bearer");

    const found: Record<string, [string, string]> = {};
    for (const [path, methods] of Object.entries(doc.paths)) {
      if (!path.startsWith("/v1")) continue;
      for (const [method, op] of Object.entries(methods)) {
        assert.ok(op.operationId, `${method} ${path} has an operationId`);
        found[op.operationId] = [method, path];
        const scheme = path.startsWith("/v1/admin") ? "adminToken" : "apiKey";
        const security = widgetOperations.has(op.operationId)
          ? [{ apiKey: [] }, { publishableKey: [] }]
          : [{ [scheme]: [] }];
        assert.deepEqual(op.security, security, `${op.operationId} security`);
      }
    }
    assert.deepEqual(found, operations);
    // Internal routes stay out of the public document.
    for (const hidden of ["/healthz", "/readyz", "/openapi.json", "/metrics"]) {
      assert.equal(doc.paths[hidden], undefined, hidden);
    }
    // A problem's code is the closed list, so a client generated from the document knows them all.
    // Asynchronous adds answer 202 with an event id (ADR 0027).
    for (const path of ["/v1/memories", "/v1/memories/batch"]) {
      const responses = doc.paths[path]?.post?.responses ?? {};
      assert.deepEqual(Object.keys(responses).sort(), ["201", "202", "4XX", "5XX"], path);
    }
    const problem = doc.paths["/v1/memories"]?.post?.responses?.["4XX"]?.content;
    assert.deepEqual(problem?.["application/json"]?.schema.properties?.code?.enum, [...ErrorCodes]);
  });

  test("GET /docs serves browsable HTML", async () => {
    const res = await fetch(`${srv.url}/docs`, { redirect: "follow" });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    const html = await res.text();
    assert.match(html, /<html/i);
    // Engram's page: its own title and icon, not the framework's or Swagger's.
    assert.match(html, /<title>Engram API<\/title>/);
    assert.doesNotMatch(html, /Swagger UI<\/title>|favicon-32x32\.png/);
    const icon = await fetch(`${srv.url}/docs/static/theme/favicon.svg`);
    assert.equal(icon.status, 200);
    assert.match(await icon.text(), /<svg/);
    // It loads the canonical /openapi.json, and its logo is Engram's text.
    const init = await (await fetch(`${srv.url}/docs/static/swagger-initializer.js`)).text();
    assert.match(init, /"urls":\[\{"url":"\/openapi\.json","name":"Engram API"\}\]/);
    const logo = /data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)/.exec(init)?.[1];
    assert.ok(logo, "a logo is set");
    assert.match(Buffer.from(logo, "base64").toString(), />Engram API<\/text>/);
  });
});

describe("health", () => {
  test("GET /healthz is 200", async () => {
    const r = await call("GET", "/healthz");
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.text), { status: "ok" });
  });

  test("GET /readyz is 200 with the database ok", async () => {
    const r = await call("GET", "/readyz");
    assert.equal(r.status, 200);
    const body = JSON.parse(r.text) as { status: string; checks: Record<string, string> };
    assert.equal(body.status, "ok");
    assert.equal(body.checks.database, "ok");
  });
});

describe("problem responses", () => {
  test("an unknown route is a 404 problem", async () => {
    for (const [method, path] of [
      ["GET", "/nope"],
      ["GET", "/v1/unknown?x=1"],
      ["POST", "/v2/memories"],
    ] as const) {
      const body = assertProblem(await call(method, path), 404, "not_found");
      assert.ok(String(body.detail).includes(path.split("?")[0] as string), String(body.detail));
    }
  });

  test("a 5 MB body is answered 413 payload_too_large, and the server keeps serving", async () => {
    const { key } = await srv.newTenant();
    const big = JSON.stringify({ text: "x".repeat(5 * 1024 * 1024) });
    // node:http rather than fetch: it reports exactly what the server sent, even if the server
    // answers before it has read the whole body; a reset would reject this promise.
    const r = await new Promise<Reply & { text: string }>((resolve, reject) => {
      const req = httpRequest(
        `${srv.url}/v1/memories`,
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${key}`,
            "content-type": "application/json",
            "content-length": Buffer.byteLength(big),
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            text += d;
          });
          res.on("end", () => {
            const headers = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              if (typeof v === "string") headers.set(k, v);
            }
            const contentType = headers.get("content-type") ?? "";
            resolve({
              status: res.statusCode ?? 0,
              headers,
              contentType,
              text,
              body: JSON.parse(text),
            });
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(big);
    });
    assertProblem(r, 413, "payload_too_large");
    assertNoSecrets(r, key);

    // The same through fetch, the way most clients send it.
    const viaFetch = await fetch(`${srv.url}/v1/memories`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: big,
    });
    assert.equal(viaFetch.status, 413);
    await viaFetch.text();

    assert.equal((await call("GET", "/healthz")).status, 200);
    const ok = await call("POST", "/v1/memories", {
      token: key,
      contentType: "application/json",
      body: JSON.stringify({ text: "still here after a big body" }),
    });
    assert.equal(ok.status, 201, ok.text);
  });

  test("a non-JSON content type is 415 unsupported_media_type", async () => {
    const { key } = await srv.newTenant();
    for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "text/html"]) {
      const r = await call("POST", "/v1/memories", { token: key, contentType, body: "hello" });
      assertProblem(r, 415, "unsupported_media_type");
    }
    const admin = await call("POST", "/v1/admin/tenants", {
      token: ADMIN_TOKEN,
      contentType: "text/plain",
      body: JSON.stringify({ name: "x" }),
    });
    assertProblem(admin, 415, "unsupported_media_type");
  });

  test("a framework 4xx is sent with the code its status has in the contract", async () => {
    // Two files in one upload pass multipart's file limit: its own 413 becomes payload_too_large.
    const { key } = await srv.newTenant();
    const form = new FormData();
    for (const name of ["a.txt", "b.txt"]) form.append("file", new Blob(["hello"]), name);
    const res = await fetch(`${srv.url}/v1/documents`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}` },
      body: form,
    });
    const body = assertProblem(await replyOf(res), 413, "payload_too_large");
    assert.equal(body.detail, "The request body is too large");
  });

  test("malformed JSON and bad input are problems with code and requestId", async () => {
    const { key } = await srv.newTenant();
    const json = { token: key, contentType: "application/json" };
    assertProblem(
      await call("POST", "/v1/memories", { ...json, body: "{not json" }),
      400,
      "invalid_json",
    );
    const v = assertProblem(
      await call("POST", "/v1/memories/search", { ...json, body: JSON.stringify({ query: "" }) }),
      400,
      "validation_failed",
    );
    assert.equal(v.field, "query");
    assertProblem(
      await call("GET", "/v1/memories/mem_01ARZ3NDEKTSV4RRFFQ69G5FAV", { token: key }),
      404,
      "not_found",
    );
  });

  test("request ids differ per request and match the header on successes too", async () => {
    const a = await call("GET", "/healthz");
    const b = await call("GET", "/healthz");
    assert.match(a.headers.get("x-request-id") ?? "", /^req_/);
    assert.notEqual(a.headers.get("x-request-id"), b.headers.get("x-request-id"));
  });
});

describe("credentials never come back", () => {
  test("401 and 403 bodies and headers hold neither the API key nor the admin token", async () => {
    const { key, tenantId } = await srv.newTenant(["memories:read"]);
    const json = "application/json";
    const replies = [
      // Missing scope: 403.
      [
        await call("POST", "/v1/memories", {
          token: key,
          contentType: json,
          body: JSON.stringify({ text: "x" }),
        }),
        403,
        "forbidden",
      ],
      // A tenant key on an admin route.
      [
        await call("POST", `/v1/admin/tenants/${tenantId}/keys`, {
          token: key,
          contentType: json,
          body: "{}",
        }),
        403,
        "forbidden",
      ],
      // The admin token on a tenant route.
      [await call("GET", "/v1/memories", { token: ADMIN_TOKEN }), 401, "unauthenticated"],
      // A revoked-looking or mistyped key: one character off.
      [
        await call("GET", "/v1/memories", {
          token: `${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`,
        }),
        401,
        "unauthenticated",
      ],
      [
        await call("POST", "/v1/admin/tenants", {
          token: `${ADMIN_TOKEN}0`,
          contentType: json,
          body: "{}",
        }),
        401,
        "unauthenticated",
      ],
      [await call("GET", "/v1/memories"), 401, "unauthenticated"],
    ] as const;
    for (const [r, status, code] of replies) {
      assertProblem(r, status, code);
      assertNoSecrets(r, key, ADMIN_TOKEN, key.slice(4), ADMIN_TOKEN.slice(0, 16));
    }
  });

  test("successful responses never echo the credential either", async () => {
    const { key } = await srv.newTenant();
    const r = await call("POST", "/v1/memories", {
      token: key,
      contentType: "application/json",
      body: JSON.stringify({ text: "my favourite colour is green" }),
    });
    assert.equal(r.status, 201, r.text);
    assertNoSecrets(r, key, ADMIN_TOKEN);
  });
});
