export * from "./categories.ts";
export * from "./common.ts";
export * from "./context.ts";
export * from "./entities.ts";
export * from "./erasure.ts";
export * from "./knowledge.ts";
export * from "./memories.ts";
export * from "./tenancy.ts";
