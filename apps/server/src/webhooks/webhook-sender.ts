import { lookup as dnsLookup } from "node:dns/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import ipaddr from "ipaddr.js";

/** Resolves a host name to its addresses (node:dns's lookup by default; tests give their own). */
export type Resolve = (hostname: string) => Promise<{ address: string; family: number }[]>;

export interface SenderOptions {
  allowPrivate: boolean;
  allowHttp: boolean;
  timeoutMs: number;
  maxResponseBytes: number;
  resolve?: Resolve;
}

/** What one attempt gave: a 2xx (`ok`), another status, or an error before any status. */
export interface SendResult {
  ok: boolean;
  status: number | null;
  durationMs: number;
  /** Why it failed, in words for the delivery log (never a header or the secret). */
  error: string | null;
}

/** Refused before any connection: the URL or the address it resolves to is not allowed. */
export class RefusedDestination extends Error {}

const systemResolve: Resolve = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/**
 * Whether an address is a public unicast one. ipaddr.js's `process` turns an IPv4-mapped IPv6
 * address (::ffff:127.0.0.1) into its IPv4 form first, so it is judged as what it reaches; every
 * other range (private, loopback, link-local, unique-local, carrier-grade NAT, unspecified,
 * multicast, reserved, and the IPv6 ranges that embed an IPv4 address: 6to4, Teredo, NAT64) is
 * refused, as no legitimate receiver needs them and several can reach the private network.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  return ipaddr.process(address).range() === "unicast";
}

/** The IP literal a URL's host names, if it is one (IPv6 without its brackets). */
function ipLiteral(hostname: string): string | undefined {
  const bare = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
  return ipaddr.isValid(bare) && (bare.includes(":") || ipaddr.IPv4.isValidFourPartDecimal(bare))
    ? bare
    : undefined;
}

/** Checks a URL's form (scheme, no credentials, and an IP literal's range), or throws why. */
export function checkWebhookUrl(
  raw: string,
  opts: Pick<SenderOptions, "allowHttp" | "allowPrivate">,
): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RefusedDestination("url is not a valid URL");
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && opts.allowHttp)) {
    throw new RefusedDestination(
      opts.allowHttp ? "url must use https:// or http://" : "url must use https://",
    );
  }
  if (url.username || url.password) {
    throw new RefusedDestination("url must not carry a user name or password");
  }
  const literal = ipLiteral(url.hostname);
  if (literal && !opts.allowPrivate && !isPublicAddress(literal)) {
    throw new RefusedDestination(
      `url points to a non-public address (${ipaddr.process(literal).range()})`,
    );
  }
  return url;
}

/**
 * Resolves the URL's host once and checks every address it resolves to; the connection then goes
 * to that one checked address (the request's `lookup` answers with it), so a DNS answer that
 * changes between the check and the connection (rebinding) cannot move the delivery elsewhere.
 */
async function pinnedAddress(
  url: URL,
  opts: SenderOptions,
): Promise<{ address: string; family: number }> {
  const literal = ipLiteral(url.hostname);
  const found = literal
    ? [{ address: literal, family: literal.includes(":") ? 6 : 4 }]
    : await (opts.resolve ?? systemResolve)(url.hostname).catch((err: Error) => {
        throw new RefusedDestination(`${url.hostname} did not resolve: ${err.message}`);
      });
  const first = found[0];
  if (!first) throw new RefusedDestination(`${url.hostname} did not resolve`);
  if (!opts.allowPrivate) {
    const bad = found.find((a) => !isPublicAddress(a.address));
    if (bad) {
      const range = ipaddr.isValid(bad.address) ? ipaddr.process(bad.address).range() : "invalid";
      throw new RefusedDestination(
        `${url.hostname} resolves to ${bad.address} (${range}), which webhooks may not reach`,
      );
    }
  }
  return first;
}

/**
 * POSTs one signed delivery: HTTPS only (unless allowed), to a public address only (unless
 * allowed), checked on the resolved address at every attempt; redirects are not followed; the
 * whole attempt is bounded by `timeoutMs` and at most `maxResponseBytes` of the answer are read.
 */
export async function sendWebhook(
  opts: SenderOptions,
  target: { url: string; headers: Record<string, string>; body: string },
  signal?: AbortSignal,
): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let url: URL;
  let pinned: { address: string; family: number };
  try {
    url = checkWebhookUrl(target.url, opts);
    pinned = await pinnedAddress(url, opts);
  } catch (err) {
    const reason = err instanceof RefusedDestination ? err.message : "the URL could not be used";
    return { ok: false, status: null, durationMs: elapsed(), error: `refused: ${reason}` };
  }
  const lookup: LookupFunction = (_host, options, callback) => {
    if ((options as { all?: boolean }).all) {
      (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [pinned]);
    } else callback(null, pinned.address, pinned.family);
  };
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const finish = (r: Omit<SendResult, "durationMs">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve({ ...r, durationMs: elapsed() });
    };
    const req = send(url, {
      method: "POST",
      headers: { ...target.headers, "content-length": Buffer.byteLength(target.body) },
      lookup,
      agent: false,
    });
    const timer = setTimeout(() => {
      finish({ ok: false, status: null, error: `timed out after ${opts.timeoutMs} ms` });
      req.destroy();
    }, opts.timeoutMs);
    const onAbort = () => {
      finish({ ok: false, status: null, error: "stopped (the worker is shutting down)" });
      req.destroy();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (err) => finish({ ok: false, status: null, error: err.message.slice(0, 300) }));
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      const chunks: Buffer[] = [];
      let read = 0;
      const done = () => {
        const excerpt = Buffer.concat(chunks).toString("utf8").slice(0, 200).trim();
        finish({
          ok,
          status,
          error: ok ? null : `HTTP ${status}${excerpt ? `: ${excerpt}` : ""}`,
        });
      };
      res.on("data", (chunk: Buffer) => {
        if (read >= opts.maxResponseBytes) return;
        const take = chunk.subarray(0, opts.maxResponseBytes - read);
        chunks.push(take);
        read += take.length;
        // Enough read: the status is known, the rest is not ours to wait for.
        if (read >= opts.maxResponseBytes) {
          done();
          res.destroy();
        }
      });
      res.on("end", done);
      res.on("error", done);
      res.on("close", done);
    });
    req.end(target.body);
  });
}
