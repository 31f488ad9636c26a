import type { WebhookEvent } from "../webhooks/webhook-outbox.ts";
import type { HistoryRow } from "./memory-store.ts";

/**
 * The webhook events of history rows (docs/webhooks.md#events): every change of a memory is one
 * history row, written in the change's transaction, so the events are too. NOOP is no event.
 */
export function memoryWebhookEvents(
  entries: readonly HistoryRow[],
  userIds: readonly (string | null)[],
): WebhookEvent[] {
  const events: WebhookEvent[] = [];
  entries.forEach((e, i) => {
    const userId = userIds[i] ?? null;
    const base = { id: e.memoryId, user_id: userId };
    const reason = e.reason !== undefined ? { reason: e.reason } : {};
    const push = (type: WebhookEvent["type"], data: Record<string, unknown>) =>
      events.push({ type, key: e.memoryId, userId, data: { ...base, ...data, ...reason } });
    if (e.event === "ADD") {
      push("memory.created", {
        memory: e.newMemory,
        metadata: e.newMetadata ?? {},
        ...(e.relatedMemoryId ? { supersedes: e.relatedMemoryId } : {}),
      });
    } else if (e.event === "UPDATE" && e.supersededBy) {
      push("memory.superseded", { memory: e.oldMemory, superseded_by: e.supersededBy });
    } else if (e.event === "UPDATE") {
      push("memory.updated", {
        memory: e.newMemory,
        previous_memory: e.oldMemory,
        metadata: e.newMetadata ?? {},
      });
    } else if (e.event === "DELETE") {
      push("memory.deleted", { memory: e.oldMemory });
    }
  });
  return events;
}
