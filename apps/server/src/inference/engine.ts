import type { EntityType, MemoryEvent } from "@engram/contract";

/**
 * The inference engines' one interface (docs/decisions/0023-inference-and-validity.md): extraction
 * turns a request's messages into standalone facts; reconciliation decides, for one fact and the
 * nearest current memories of the same scope, whether it is new (ADD), enriches or replaces one
 * (UPDATE), invalidates one (DELETE) or is already known (NOOP). The memory service does the I/O
 * (embedding, neighbour search, writes); engines only decide.
 */

/** One message of an add request, with its position and resolved time. */
export interface SourceMessage {
  /** Position in the request's messages (0 for a plain `text`). */
  index: number;
  id?: string | undefined;
  role: "user" | "assistant" | "system" | "tool";
  /** The speaker: the message's `name`, else (user messages) the scope's user_id. */
  speaker: string | null;
  content: string;
  /** The message's timestamp, else the request's, else now: relative dates resolve against it. */
  time: Date;
}

/** A single-valued attribute a fact states: a new value for the same subject and key supersedes. */
export interface Attribute {
  /** Who it is about, normalised (lower case, trimmed), e.g. "alice". */
  subject: string;
  /** One of ATTRIBUTE_KEYS for the local engine; the LLM engine may name others (snake_case). */
  key: string;
  /** The value as said, e.g. "Lisbon". */
  value: string;
}

/** The attributes the local engine recognises; a new value supersedes the old. */
export const ATTRIBUTE_KEYS = [
  "lives_in",
  "works_at",
  "job_title",
  "relationship_status",
  "preference",
] as const;

export interface Fact {
  /**
   * A standalone statement: first person rewritten to the speaker's name when known, relative
   * dates replaced by absolute ones ("last month" → "in October 2026") so keyword search finds them.
   */
  text: string;
  /** Indexes into the request's messages it came from (at least one). */
  sources: number[];
  /** When it became true: the resolved event date, else when it was said. ISO 8601. */
  validFrom: string;
  attribute?: Attribute | undefined;
  /** The fact says an earlier fact no longer holds ("I no longer live in Berlin"): DELETE. */
  negates?: boolean | undefined;
  /** Names of people, places, organisations and things it mentions, normalised (lower case). */
  entities: string[];
  /** The LLM engine's categories; the local engine leaves this out (the service assigns them). */
  categories?: string[] | undefined;
  /**
   * The LLM engine's typed entities and relations; the local engine leaves this out (the memory
   * write extracts them from the fact's text, entities/entity-extraction.ts).
   */
  mentions?: Extraction | undefined;
}

/** A named thing a text mentions, with its type (docs/entities.md). */
export interface EntityMention {
  type: EntityType;
  /** As written ("Dr. Smith"); a date in ISO 8601 ("2023-05-07", "2023-05", "2023"). */
  name: string;
  /** Other forms it goes by, as written ("Smith"; "7 May 2023"). */
  aliases: string[];
  /**
   * The text's speaker (a message's `name`, or a transcript label "Name:" opening the text): the
   * memory is theirs to say, not only a mention of them (ranking weighs the two apart, ADR 0033).
   */
  speaker?: boolean;
}

/** subject –predicate→ object between two of a text's mentions (positions in `entities`). */
export interface RelationMention {
  subject: number;
  /** snake_case, e.g. "lives_in". */
  predicate: string;
  object: number;
  /** When it became true (ISO 8601); absent: when the memory it comes from did. */
  validFrom?: string | undefined;
  /** When it stopped being true, if the text says so. */
  validTo?: string | undefined;
}

/** What a text mentions: entities, and relations between them. */
export interface Extraction {
  entities: EntityMention[];
  relations: RelationMention[];
}

/** A current memory of the same scope, a candidate for reconciliation with a fact. */
export interface Neighbour {
  id: string;
  memory: string;
  /** Cosine similarity of its embedding with the fact's. */
  similarity: number;
  attribute: { subject: string; key: string } | null;
  validFrom: string;
}

export interface Decision {
  event: MemoryEvent;
  /** UPDATE, DELETE, NOOP: the neighbour it concerns. */
  targetId?: string | undefined;
  /**
   * UPDATE: true when the fact replaces the target as a newer value (the target gets valid_to and
   * superseded_by, the fact becomes a new memory); false when the target's text is enriched in place.
   */
  supersede?: boolean | undefined;
  /** ADD and UPDATE: the memory's text (for an enriching UPDATE, the merged text). */
  text: string;
  reason: string;
}

/** What one LLM call cost; recorded against the tenant with the write's usage. */
export interface LlmCall {
  model: string;
  /** extract and reconcile: inference; chat: an agent's answer (chat/). */
  purpose: "extract" | "reconcile" | "chat";
  tokensIn: number;
  tokensOut: number;
  latencyMs: number;
  costUsd: number;
}

export interface EngineOutcome<T> {
  value: T;
  /** The LLM calls made, including failed ones (they cost too). */
  calls: LlmCall[];
  /** Set when the LLM engine handed this step to the local engine, saying why. */
  fallback?: string | undefined;
}

/** A category inferred memories may get: `name` is what is stored, `description` what it covers. */
export interface Category {
  name: string;
  description: string;
}

/** Per-request extraction context (optional: engines have defaults). */
export interface ExtractOptions {
  /** The project's categories; the LLM engine lets the model choose among them. */
  categories?: Category[] | undefined;
}

export interface ReconcileOptions {
  /** Cosine similarity at or above which a neighbour with the same entities is a near-duplicate. */
  duplicateThreshold: number;
}

export interface InferenceEngine {
  readonly name: "local" | "llm";
  extract(messages: SourceMessage[], opts?: ExtractOptions): Promise<EngineOutcome<Fact[]>>;
  /** Neighbours are ordered most similar first; the attribute's current holder is among them. */
  reconcile(
    fact: Fact,
    neighbours: Neighbour[],
    opts: ReconcileOptions,
  ): Promise<EngineOutcome<Decision>>;
}
