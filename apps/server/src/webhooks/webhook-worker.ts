import type { WebhooksConfig } from "../config/webhooks-config.ts";
import type { JobLogger } from "../worker/job.ts";
import type { WebhookDelivery, WebhookMessage } from "./webhook-queue.ts";
import { type Resolve, type SendResult, sendWebhook } from "./webhook-sender.ts";
import { webhookHeaders } from "./webhook-signature.ts";
import type { WebhookStore } from "./webhook-store.ts";

/**
 * The delivery job: sends its ordering key's oldest pending delivery, signed, and records the
 * attempt. A non-2xx answer, a timeout or a refused destination is retried by the queue with
 * backoff (throwing) until ENGRAM_WEBHOOKS_MAX_ATTEMPTS; the last attempt fails the delivery and
 * completes the job, so the key's later deliveries go on.
 */
export function createWebhookHandler(deps: {
  store: WebhookStore;
  config: WebhooksConfig;
  log: JobLogger;
  /** Host name resolution (tests map names to addresses); node:dns by default. */
  resolve?: Resolve | undefined;
}) {
  const { store, config, log } = deps;
  const sender = { ...config, ...(deps.resolve ? { resolve: deps.resolve } : {}) };

  async function handle(d: WebhookDelivery): Promise<void> {
    const { tenantId, webhookId, key } = d.message;
    const next = await store.nextPending(tenantId, webhookId, key);
    if (!next) return; // delivered by an earlier job of the key, or gone with its webhook
    if (!next.enabled) {
      await store.recordAttempt(tenantId, next.id, {
        status: "failed",
        responseStatus: null,
        durationMs: 0,
        error: "not sent: the webhook is disabled",
        attempted: false,
      });
      return;
    }
    const body = JSON.stringify(next.payload);
    const result: SendResult = await sendWebhook(
      sender,
      { url: next.url, headers: webhookHeaders(next.secret, next.event_id, body), body },
      d.signal,
    );
    const last = d.retryCount + 1 >= config.maxAttempts;
    const status = result.ok ? "succeeded" : last ? "failed" : "pending";
    await store.recordAttempt(tenantId, next.id, {
      status,
      responseStatus: result.status,
      durationMs: result.durationMs,
      error: result.error,
      attempted: true,
    });
    if (status === "pending") {
      log.info(
        { tenantId, webhookId, deliveryId: next.id, attempt: d.retryCount + 1 },
        "webhook delivery failed; the queue retries it",
      );
      throw new Error(`webhook delivery ${next.id} failed: ${result.error}`);
    }
    if (status === "failed") {
      log.warn({ tenantId, webhookId, deliveryId: next.id }, "webhook delivery given up");
    }
  }

  /** A job whose queue retries are spent (database errors): its delivery stays as recorded. */
  async function dead(m: WebhookMessage): Promise<void> {
    log.warn(
      { tenantId: m.tenantId, webhookId: m.webhookId },
      "webhook delivery job dead-lettered",
    );
  }

  return { handle, dead };
}
