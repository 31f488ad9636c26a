#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so the command works without a build step.
import { registerHooks } from "node:module";
import { register } from "tsx/esm/api";

// The `@engram/source` export condition makes @engram/contract resolve to its TypeScript
// sources, as `--conditions=@engram/source` does for the npm scripts (ADR 0016).
registerHooks({
  resolve: (specifier, context, nextResolve) =>
    nextResolve(specifier, { ...context, conditions: [...context.conditions, "@engram/source"] }),
});
register();
await import("../src/cli/main.ts");
