/**
 * Who wants to know that a project's searchable knowledge changed: a document became searchable
 * (its ingestion completed) or was deleted. The chat engine's semantic cache keys answers by a
 * per-project knowledge generation this bumps (docs/chat.md), so a cached answer never outlives
 * the documents it quoted.
 */
export type KnowledgeChangeHook = (tenantId: string, projectId: string) => Promise<void>;

/** Calls the hook, if any; a failure is logged, never thrown: the change itself is committed. */
export async function notifyKnowledgeChange(
  hook: KnowledgeChangeHook | undefined,
  tenantId: string,
  projectId: string,
  log?: { warn(obj: object, msg: string): void },
): Promise<void> {
  if (!hook) return;
  try {
    await hook(tenantId, projectId);
  } catch (err) {
    log?.warn(
      { tenantId, projectId, err: err instanceof Error ? err.message : String(err) },
      "knowledge change not passed on (cached chat answers may be stale until they expire)",
    );
  }
}
