// The commit a benchmark report names, so a result can be traced to the code that produced it.
import { runProcess } from "@engram/server/testing";

/** The checked-out commit, noting uncommitted changes in the tree ("unknown" outside git). */
export async function describeCommit(): Promise<string> {
  const git = async (...args: string[]) => {
    const r = await runProcess("git", args);
    return r.code === 0 ? r.stdout.trim() : undefined;
  };
  const commit = await git("rev-parse", "--short", "HEAD");
  if (commit === undefined) return "unknown";
  return (await git("status", "--porcelain")) ? `${commit} (with uncommitted changes)` : commit;
}
