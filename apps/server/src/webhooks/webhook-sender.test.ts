import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { startWebhookReceiver, type WebhookReceiver } from "../testing/webhook-receiver.ts";
import {
  checkWebhookUrl,
  isPublicAddress,
  type Resolve,
  type SenderOptions,
  sendWebhook,
} from "./webhook-sender.ts";
import { newWebhookSecret, signWebhook, webhookHeaders } from "./webhook-signature.ts";

/** A resolver of our own: names map to the addresses a test says (a DNS it controls). */
const resolver =
  (names: Record<string, string[]>): Resolve =>
  async (hostname) => {
    const found = names[hostname];
    if (!found) throw new Error(`getaddrinfo ENOTFOUND ${hostname}`);
    return found.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };

const strict: SenderOptions = {
  allowPrivate: false,
  allowHttp: false,
  timeoutMs: 2_000,
  maxResponseBytes: 1024,
};

let receiver: WebhookReceiver;
before(async () => {
  receiver = await startWebhookReceiver();
});
after(async () => {
  await receiver.close();
});

const post = (opts: SenderOptions, url: string) =>
  sendWebhook(opts, { url, headers: { "content-type": "application/json" }, body: "{}" });

describe("which addresses a webhook may reach", () => {
  test("public unicast only; private, loopback, link-local and their IPv6 forms are not", () => {
    for (const ok of ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"]) {
      assert.equal(isPublicAddress(ok), true, ok);
    }
    for (const no of [
      "127.0.0.1",
      "127.8.9.10",
      "10.1.2.3",
      "172.16.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "255.255.255.255",
      "224.0.0.1",
      "::1",
      "::",
      "fe80::1",
      "fc00::1",
      "fd12:3456::1",
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1",
      "::ffff:169.254.169.254",
      "64:ff9b::a00:1",
      "2002:7f00:1::1",
      "not-an-address",
    ]) {
      assert.equal(isPublicAddress(no), false, no);
    }
  });

  test("the URL's form: https unless allowed, no credentials, no non-public literal", () => {
    assert.throws(() => checkWebhookUrl("http://example.com/", strict), /must use https/);
    assert.throws(() => checkWebhookUrl("https://a:b@example.com/", strict), /user name/);
    assert.throws(() => checkWebhookUrl("https://127.0.0.1/", strict), /non-public.*loopback/);
    assert.throws(() => checkWebhookUrl("https://[::1]/", strict), /non-public/);
    assert.throws(() => checkWebhookUrl("https://[::ffff:7f00:1]/", strict), /non-public/);
    assert.throws(() => checkWebhookUrl("https://169.254.169.254/latest", strict), /linkLocal/);
    assert.equal(checkWebhookUrl("https://example.com/x", strict).host, "example.com");
    const relaxed = { allowHttp: true, allowPrivate: true };
    assert.equal(checkWebhookUrl("http://127.0.0.1:9/x", relaxed).port, "9");
  });
});

describe("sending", () => {
  test("a name resolving to loopback is refused before any connection, as are IPv4-mapped forms", async () => {
    const opts = { ...strict, allowHttp: true };
    for (const [name, addresses] of [
      ["rebind.test", ["127.0.0.1"]],
      ["mapped.test", ["::ffff:127.0.0.1"]],
      ["metadata.test", ["169.254.169.254"]],
      ["v6local.test", ["fe80::1"]],
      // One bad address among good ones is enough to refuse.
      ["mixed.test", ["93.184.216.34", "10.0.0.7"]],
    ] as const) {
      const r = await sendWebhook(
        { ...opts, resolve: resolver({ [name]: [...addresses] }) },
        { url: `http://${name}:${receiver.port}/ssrf`, headers: {}, body: "{}" },
      );
      assert.equal(r.ok, false);
      assert.equal(r.status, null);
      assert.match(
        String(r.error),
        new RegExp(`^refused: ${name.replace(".", "\\.")} resolves to`),
      );
    }
    // `localhost` through the system's resolver too.
    const local = await post(opts, `http://localhost:${receiver.port}/ssrf`);
    assert.match(String(local.error), /^refused: localhost resolves to (127\.0\.0\.1|::1)/);
    assert.equal(receiver.at("/ssrf").length, 0);
  });

  test("the connection goes to the address that was checked (pinned), not to a second lookup", async () => {
    let lookups = 0;
    const resolve: Resolve = async () => {
      lookups++;
      // A rebinding DNS would answer differently the second time; only the first is used.
      return [{ address: lookups === 1 ? "127.0.0.1" : "203.0.113.9", family: 4 }];
    };
    const opts = { ...strict, allowHttp: true, allowPrivate: true, resolve };
    const r = await post(opts, `http://hooks.example.invalid:${receiver.port}/pinned`);
    assert.equal(r.ok, true, String(r.error));
    assert.equal(lookups, 1);
    const [got] = receiver.at("/pinned");
    assert.equal(got?.headers.host, `hooks.example.invalid:${receiver.port}`);
  });

  test("a slow receiver times out; a long answer is read only up to the cap", async () => {
    const server = createServer((req, res) => {
      if (req.url === "/slow") return; // never answers
      res.writeHead(500);
      res.write("x".repeat(64 * 1024));
      // ...and never ends the body
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const opts = { ...strict, allowHttp: true, allowPrivate: true, timeoutMs: 500 };
      const slow = await post(opts, `http://127.0.0.1:${port}/slow`);
      assert.equal(slow.ok, false);
      assert.match(String(slow.error), /timed out after 500 ms/);
      assert.ok(slow.durationMs >= 450 && slow.durationMs < 2_000, String(slow.durationMs));
      const long = await post({ ...opts, timeoutMs: 5_000 }, `http://127.0.0.1:${port}/long`);
      assert.equal(long.status, 500);
      assert.ok(long.durationMs < 2_000, String(long.durationMs));
      assert.ok(String(long.error).length < 300);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test("redirects are not followed", async () => {
    const server = createServer((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${receiver.port}/redirected` }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const opts = { ...strict, allowHttp: true, allowPrivate: true };
      const r = await post(opts, `http://127.0.0.1:${port}/`);
      assert.equal(r.ok, false);
      assert.equal(r.status, 302);
      assert.equal(receiver.at("/redirected").length, 0);
    } finally {
      server.close();
    }
  });
});

describe("signatures", () => {
  test("Standard Webhooks' own library verifies ours; another secret or body does not", () => {
    const secret = newWebhookSecret();
    const body = JSON.stringify({ type: "memory.created", data: { id: "mem_1" } });
    const headers = webhookHeaders(secret, "whmsg_01JD3ABCDEFGHJKMNPQRSTVWXY", body);
    assert.deepEqual(new StandardWebhook(secret).verify(body, headers), JSON.parse(body));
    assert.throws(() => new StandardWebhook(newWebhookSecret()).verify(body, headers));
    assert.throws(() => new StandardWebhook(secret).verify(`${body} `, headers));
    // The library's own signature of the same message equals ours.
    const ts = new Date(Number(headers["webhook-timestamp"]) * 1000);
    const theirs = new StandardWebhook(secret).sign(headers["webhook-id"] as string, ts, body);
    assert.equal(
      theirs,
      signWebhook(
        secret,
        headers["webhook-id"] as string,
        Number(headers["webhook-timestamp"]),
        body,
      ),
    );
  });
});
