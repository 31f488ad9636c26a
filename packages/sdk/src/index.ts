export type * from "@engram/contract";
export { EngramAdminClient } from "./admin.ts";
export { AgentsClient, type ChatStreamEvent } from "./agents.ts";
export { EngramClient } from "./client.ts";
export { type ClientOptions, EngramError } from "./http.ts";
export { KnowledgeClient } from "./knowledge.ts";
export { WebhooksClient } from "./webhooks.ts";
