import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type Finished,
  type RunningProcess,
  runProcess,
  startProcess,
} from "./testing/run-process.ts";
import { freePort, serves } from "./testing/test-server.ts";

// The README's quick start, run as a newcomer runs it: its shell commands are read from README.md
// (so the test breaks when the README drifts) and run as written, in order, from the root of a
// checkout, in a shell that has only PORT set. The checkout is a temporary directory of symlinks
// to this repository's files, so `./.engram` is the test's own and is removed with it.

const REPO = fileURLToPath(new URL("../../../", import.meta.url));

/** A line without its shell comment (a `#` starting a word, outside quotes). */
function withoutComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === "#" && (i === 0 || /\s/.test(line[i - 1] as string))) {
      return line.slice(0, i);
    }
  }
  return line;
}

/** The ```sh blocks of one `## ` section, each as its commands (continuations joined, no comments). */
function shellBlocks(file: string, heading: string): string[][] {
  const markdown = readFileSync(join(REPO, file), "utf8");
  const start = markdown.indexOf(`\n${heading}\n`);
  assert.notEqual(start, -1, `${file} has no "${heading}" section`);
  const rest = markdown.slice(start + heading.length + 2);
  const end = rest.search(/^## /m);
  const section = end === -1 ? rest : rest.slice(0, end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map(([, block]) => {
    const commands: string[] = [];
    let current = "";
    for (const line of (block as string).split("\n")) {
      current += line;
      if (current.endsWith("\\")) {
        current = current.slice(0, -1);
        continue;
      }
      const command = withoutComment(current).trim();
      if (command) commands.push(command);
      current = "";
    }
    return commands;
  });
}

/** A user's shell: none of Engram's variables, no npm run's, no node_modules/.bin on PATH. */
function userEnv(port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(ENGRAM_|npm_|NODE_)|^(PORT|HOST|DATABASE_URL|REDIS_URL|INIT_CWD)$/.test(key)) continue;
    env[key] = value;
  }
  env.PATH = (process.env.PATH ?? "")
    .split(":")
    .filter((dir) => !dir.includes("node_modules/.bin"))
    .join(":");
  env.PORT = String(port);
  return env;
}

let checkout: string;
let port: number;
let server: RunningProcess | undefined;

/** Runs a shell script in the checkout; curl also prints the status code on a last line. */
function sh(script: string) {
  return runProcess(
    "bash",
    ["-c", `curl() { command curl -w '\\n%{http_code}\\n' "$@"; }\n${script}`],
    {
      cwd: checkout,
      env: userEnv(port),
    },
  );
}

/** A curl command's result: the status from the shim's last line, and the JSON body before it. */
function curlResult(r: Finished) {
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  const status = Number(lines.pop());
  // biome-ignore lint/suspicious/noExplicitAny: the test reads documented fields of the JSON
  return { status, body: JSON.parse(lines.join("\n")) as any };
}

describe("the README's quick start, as written", { timeout: 300_000 }, () => {
  const [
    [install, start] = [],
    [createTenant] = [],
    [addMemory, search, context] = [],
    ,
    [createAgent, chat] = [],
  ] = shellBlocks("README.md", "## Quick start");

  before(async () => {
    checkout = mkdtempSync(join(tmpdir(), "engram-quick-start-"));
    for (const entry of ["package.json", ".npmrc", "node_modules", "apps", "packages"]) {
      symlinkSync(join(REPO, entry), join(checkout, entry));
    }
    port = await freePort();
  });
  after(async () => {
    // npm, its shell and the server share one process group (detached): stop signals them all.
    await server?.stop("SIGTERM", 20_000);
    rmSync(checkout, { recursive: true, force: true });
  });

  test("the README's commands are the ones this test runs", () => {
    // `npm install` ran before the tests (and .ci/run runs `npm ci`); the rest runs below.
    assert.equal(install, "npm install");
    assert.equal(start, "npm start");
    assert.equal(createTenant, "npm run --silent engram -- tenant create acme");
    assert.match(addMemory ?? "", /^curl -s localhost:\$\{PORT:-8080\}\/v1\/memories -H .*egm_…/);
    assert.match(search ?? "", /^curl -s localhost:\$\{PORT:-8080\}\/v1\/memories\/search /);
    assert.match(context ?? "", /^curl -s localhost:\$\{PORT:-8080\}\/v1\/context /);
    assert.match(createAgent ?? "", /^curl -s localhost:\$\{PORT:-8080\}\/v1\/agents -H /);
    assert.match(chat ?? "", /^curl -s localhost:\$\{PORT:-8080\}\/v1\/agents\/agt_…\/chat /);
  });

  test("npm start serves on PORT with its data in ./.engram and prints the admin token once", async () => {
    server = await startProcess("bash", ["-c", start as string], {
      what: "npm start",
      cwd: checkout,
      env: userEnv(port),
      detached: true,
      ready: serves(`http://127.0.0.1:${port}`),
      timeoutMs: 120_000,
      intervalMs: 200,
    });
    const tokenFile = join(checkout, ".engram", "admin-token");
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    const token = readFileSync(tokenFile, "utf8").trim();
    const output = server.output();
    assert.ok(output.includes(token), `the first start prints the token:\n${output}`);
    assert.ok(existsSync(join(checkout, ".engram", "pgdata")), "the database is in ./.engram");
  });

  let key: string;
  test("the CLI creates a tenant on the self-hosted plan with the server's token", async () => {
    const tokenBefore = readFileSync(join(checkout, ".engram", "admin-token"), "utf8");
    const r = await sh(createTenant as string);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    // The CLI prints "label  value" lines by default (--json for JSON).
    const field = (label: string) => new RegExp(`^${label} +(\\S+)$`, "m").exec(r.stdout)?.[1];
    assert.match(field("id") ?? "", /^ten_/);
    assert.equal(field("plan"), "self-hosted");
    assert.match(field("API key") ?? "", /^egm_/);
    key = field("API key") as string;
    // The CLI read the token; it did not make one of its own.
    assert.equal(readFileSync(join(checkout, ".engram", "admin-token"), "utf8"), tokenBefore);
  });

  test("the curl commands store a memory (201), search finds it and context packs it", async () => {
    const added = curlResult(await sh((addMemory as string).replaceAll("egm_…", key)));
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.equal(added.body.results[0].event, "ADD");
    assert.equal(added.body.results[0].memory, "Alice is allergic to peanuts");

    const found = curlResult(await sh((search as string).replaceAll("egm_…", key)));
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.equal(found.body.results[0].id, added.body.results[0].id);
    assert.equal(found.body.results[0].memory, "Alice is allergic to peanuts");

    const packed = curlResult(await sh((context as string).replaceAll("egm_…", key)));
    assert.equal(packed.status, 200, JSON.stringify(packed.body));
    assert.match(
      packed.body.context,
      /^Memories:\n- \[\d{4}-\d\d-\d\d\] Alice is allergic to peanuts$/,
    );
    assert.ok(packed.body.tokens_used <= 200);
  });

  test("the agent example answers from Alice's memory, extractively", async () => {
    const agent = curlResult(await sh((createAgent as string).replaceAll("egm_…", key)));
    assert.equal(agent.status, 201, JSON.stringify(agent.body));
    assert.match(agent.body.id, /^agt_/);
    assert.match(agent.body.publishable_key, /^pk_/);
    const answer = curlResult(
      await sh((chat as string).replaceAll("egm_…", key).replaceAll("agt_…", agent.body.id)),
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.mode, "extractive");
    assert.match(answer.body.text, /Alice is allergic to peanuts/);
  });

  test("a newcomer is not throttled: 150 more requests with the key all answer 200", async () => {
    for (let i = 0; i < 150; i++) {
      const r = await fetch(`http://127.0.0.1:${port}/v1/memories?user_id=alice`, {
        headers: { authorization: `Bearer ${key}` },
      });
      const body = await r.text();
      assert.equal(r.status, 200, `request ${i}: ${body}`);
      assert.equal(r.headers.get("ratelimit"), null);
    }
  });

  test("docs/tenants-and-keys.md: provisioning with the admin token from ./.engram", async () => {
    const [block] = shellBlocks("docs/tenants-and-keys.md", "## Provisioning: one call");
    assert.ok(block && block.length === 2, JSON.stringify(block));
    const r = curlResult(await sh(block.join("\n")));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.name, "acme");
    assert.equal(r.body.plan, "starter");
    assert.match(r.body.key.key, /^egm_/);
  });

  test("Ctrl-C (SIGINT to npm start's process group) drains the server, which exits", async () => {
    const running = server as NonNullable<typeof server>;
    await running.stop("SIGINT");
    assert.match(running.output(), /shutting down: draining in-flight requests/);
    const up = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      () => true,
      () => false,
    );
    assert.equal(up, false, "nothing serves on the port any more");
  });
});
