import type { ATTRIBUTE_KEYS, Attribute } from "./engine.ts";

/**
 * Single-valued attributes stated in a sentence (docs/inference.md, "The local engine"): where
 * someone lives, works, their job title, relationship status and a preference stated as a change.
 * Rules are conservative: a sentence that is hypothetical, a wish, a plan, a past habit or a
 * question states no attribute, and "I" is only the speaker when the speaker is known.
 */

export interface DetectedAttribute {
  attribute: Attribute;
  negates: boolean;
}

const NAME_WORD = String.raw`[\p{Lu}\d][\p{L}\p{N}&'.-]*`;
/** A proper name: capitalised words, with "of", "de", "upon"... inside ("Bank of America"). */
const PROPER = String.raw`(?:the\s+)?${NAME_WORD}(?:\s+(?:(?:of|de|do|da|del|la|le|upon|am|and|&)\s+)?${NAME_WORD})*`;
/** A common-noun place or employer needs its article: "the countryside", "a startup". */
const COMMON = String.raw`(?:a|an|the)\s+\p{Ll}[\p{L}-]*(?:\s+\p{Ll}[\p{L}-]*){0,3}`;
const FREE = String.raw`\p{L}[\p{L}\p{N}' -]*?`;
const END = String.raw`(?=\s*(?:[.,;:!?)]|$|\s(?:now|anymore|instead|these days|since|because|but|after|last|in|on|at|for|with|from|and|two|three|a few|recently|yesterday|today|this|next)\b))`;

const RELATIONS =
  "sister|brother|mother|mom|mum|father|dad|wife|husband|partner|boyfriend|girlfriend|fianc[eé]e?|son|daughter|best friend|friend|boss|manager|colleague|coworker|cousin|aunt|uncle|grandmother|grandfather|grandma|grandpa|roommate|flatmate|neighbou?r|niece|nephew|parents|kids|children";

/** Capitalised words that start a sentence but are not a subject's name. */
const NOT_A_SUBJECT =
  /^(the|this|that|these|those|then|now|also|and|but|so|yesterday|today|tomorrow|last|next|in|on|at|he|she|it|they|we|you|honestly|actually|recently|well|there|here|maybe|perhaps|if|when|since|after|before|my|his|her|their|our|your|its|everyone|someone|nobody|somebody|anyone)$/i;

/** A sentence that wishes, plans, supposes or remembers states nothing current. */
const BLOCKERS =
  /\b(if|maybe|perhaps|might|would|could|should|wish|wishes|hope|hopes|hoping|dream|dreams|dreaming|want to|wants to|wanted to|wanna|plan to|plans to|planning|thinking of|thinking about|considering|someday|one day|will|going to|gonna|used to|imagine|suppose|unless|pretend|said|says|told|thinks|think|believe|whether|visited|visiting|visit|trip|vacation|holiday)\b|\?/i;

/** "may" the modal, not the month: only in lower case. */
const MODAL_MAY = /\bmay\b/;

/** Adverbs after an auxiliary ("I'm still based in", "I am now a nurse") that the rules read past. */
const AUX_ADVERBS =
  /\b(am|is|are|have|has|do|does)\s+(?:(?:still|really|just|currently|also|actually|now|already|finally|officially|happily|truly)\s+)+/g;

const OPENER = String.raw`(?:[Yy]esterday|[Tt]oday|[Rr]ecently|[Ll]ast\s+\w+|[Tt]his\s+\w+|[Ii]n\s+\w+(?:\s+\d{4})?|[Oo]n\s+\d{1,2}\s+\w+\s+\d{4}|[Ss]o|[Aa]nd|[Bb]ut|[Aa]lso|[Nn]ow|[Ww]ell|[Aa]ctually|[Hh]onestly|[Ff]inally|[Oo]h|[Bb]tw|FYI|[Gg]uess what|[Ss]ince\s+\w+(?:\s+\d{4})?|[Aa]s of\s+(?:this\s+|last\s+|next\s+)?\w+|[Tt]hese days|(?:[Bb]ig|[Gg]ood|[Gg]reat)\s+news)`;
const CLAUSE = String.raw`(?:^${OPENER},?\s+|^|[,;:]\s*|\b(?:and|but|so|because|now|then|well|actually|honestly|recently|finally|also|oh|btw|today|yesterday)\s+)`;
const SUBJECT = String.raw`(?<subject>I|[Mm]y\s+(?:${RELATIONS})(?:\s+${NAME_WORD})?|The user|the user|${NAME_WORD}(?:\s+${NAME_WORD}){0,2}(?:'s?\s+(?:${RELATIONS}))?)`;
const ADVERBS = String.raw`(?:(?:just|recently|finally|now|actually|also|officially|currently|still|eventually|already|really|even|happily)\s+)*`;

const PROFESSIONS =
  "engineer|developer|barista|programmer|designer|architect|teacher|professor|lecturer|nurse|doctor|physician|surgeon|dentist|pharmacist|lawyer|attorney|accountant|consultant|analyst|manager|director|chef|cook|baker|waiter|waitress|bartender|pilot|writer|author|journalist|editor|photographer|artist|musician|actor|actress|scientist|researcher|student|intern|librarian|electrician|plumber|carpenter|mechanic|firefighter|officer|paramedic|therapist|psychologist|psychiatrist|veterinarian|vet|farmer|driver|salesperson|recruiter|administrator|secretary|assistant|founder|co-founder|ceo|cto|cfo|coo|vp|president|lead|specialist|technician|coordinator|strategist|economist|translator|tutor|coach|trainer|cashier|clerk|banker|broker|agent|marketer|producer|entrepreneur|freelancer|contractor|scientist|statistician|mathematician|physicist|chemist|biologist|professor|principal|officer|soldier|sergeant|detective|judge|nanny|caregiver|midwife|optometrist|radiologist|paralegal|bookkeeper|auditor|underwriter|copywriter|illustrator|animator|filmmaker|dancer|singer|composer|sculptor|curator|archivist|historian|surveyor|welder|machinist|pilot|captain|steward|stewardess|receptionist|hairdresser|barber|beautician|cleaner|janitor|gardener|landscaper|tailor|jeweler|butcher|fisherman|miner|lifeguard|ranger|postman|courier";
const TITLE = String.raw`(?:[\p{L}-]+\s+){0,3}(?:${PROFESSIONS})`;

const DIETS =
  "vegetarian|vegan|pescatarian|pescetarian|carnivore|keto|paleo|omnivore|teetotal|gluten-free|lactose-free";

interface Rule {
  key: (typeof ATTRIBUTE_KEYS)[number];
  negates?: boolean;
  /** Follows the subject and adverbs; captures `value` (unless `value` below is fixed). */
  verb: string;
  value?: string;
  /** The captured value must be a proper name. */
  proper?: boolean;
}

const PLACE = `(?<value>${PROPER}|${COMMON})`;
const EMPLOYER = PLACE;

const RULES: Rule[] = [
  // lives_in
  {
    key: "lives_in",
    negates: true,
    verb: String.raw`(?:no longer|do not|does not|am not|is not|are not)\s+(?:live|lives|living|reside|resides|based)\s+in\s+${PLACE}`,
  },
  {
    key: "lives_in",
    negates: true,
    verb: String.raw`(?:have\s+|has\s+)?moved\s+(?:out of|away from)\s+${PLACE}`,
  },
  {
    key: "lives_in",
    verb: String.raw`(?:have\s+|has\s+)?(?:moved|relocated)\s+(?:back\s+)?from\s+${PROPER}\s+to\s+${PLACE}`,
  },
  { key: "lives_in", verb: String.raw`left\s+${PROPER}\s+for\s+${PLACE}`, proper: true },
  {
    key: "lives_in",
    verb: String.raw`(?:live|lives|reside|resides|am living|is living|are living|have been living|has been living|am based|is based|are based|am now based|have moved|has moved|moved|relocated|have relocated|has relocated|am settled|is settled)\s+(?:back\s+|here\s+)?(?:in|to)\s+${PLACE}`,
  },
  // works_at
  {
    key: "works_at",
    negates: true,
    verb: String.raw`(?:have\s+|has\s+)?(?:quit|left|lost)\s+(?:my|their|his|her|the)\s+job\s+(?:at|with)\s+${EMPLOYER}`,
  },
  {
    key: "works_at",
    negates: true,
    verb: String.raw`(?:no longer|do not|does not|am not|is not)\s+(?:work|works|working|employed)\s+(?:at|for)\s+${EMPLOYER}`,
  },
  {
    key: "works_at",
    negates: true,
    verb: String.raw`(?:was|got|have been|has been)\s+(?:laid off|fired|let go)\s+(?:from|by)\s+${EMPLOYER}`,
  },
  {
    key: "works_at",
    negates: true,
    verb: String.raw`(?:have\s+|has\s+)?(?:quit|retired from)\s+(?<value>${PROPER})`,
    proper: true,
  },
  {
    key: "works_at",
    negates: true,
    verb: String.raw`(?:have\s+|has\s+)?(?:quit|left|lost)\s+(?:my|their|his|her)\s+job(?!\s+(?:at|with|as)\b)`,
    value: "",
  },
  {
    key: "works_at",
    verb: String.raw`(?:work|works|am working|is working|are working|have been working|has been working|started working|have started working|am employed|is employed|am now working)\s+(?:(?:remotely|full[- ]time|part[- ]time|freelance)\s+)?(?:at|for)\s+${EMPLOYER}`,
  },
  {
    key: "works_at",
    verb: String.raw`(?:joined|have joined|has joined|started at|have started at|started a new job at|got a (?:new\s+)?job at|have a new job at|has a new job at|accepted (?:an offer|a job|a position) (?:from|at)|got hired (?:at|by)|was hired (?:at|by)|have been hired (?:at|by)|has been hired (?:at|by)|am now at|is now at)\s+(?<value>${PROPER})`,
    proper: true,
  },
  {
    key: "works_at",
    verb: String.raw`(?:am|is)\s+(?:now\s+)?(?:a|an|the)\s+${TITLE}\s+(?:at|for)\s+(?<value>${PROPER})`,
    proper: true,
  },
  // job_title
  {
    key: "job_title",
    verb: String.raw`(?:got\s+|was\s+|have been\s+|has been\s+|just got\s+)promoted\s+to\s+(?:a\s+|an\s+)?(?<value>${FREE})${END}`,
  },
  {
    key: "job_title",
    verb: String.raw`(?:work|works|am working|is working)\s+as\s+(?:a\s+|an\s+|the\s+)?(?<value>${FREE})${END}`,
  },
  {
    key: "job_title",
    verb: String.raw`(?:am|is|became|have become|has become)\s+(?:now\s+)?(?:a|an|the)\s+(?<value>${TITLE})\b(?!\s+(?:at|for)\b)`,
  },
  // relationship_status
  {
    key: "relationship_status",
    verb: String.raw`(?:am|is|are)\s+(?:now\s+|happily\s+|newly\s+|officially\s+)?(?<value>single|married|engaged|divorced|separated|widowed)\b`,
  },
  {
    key: "relationship_status",
    verb: String.raw`(?:got|have gotten|have got|has got|just got)\s+(?<value>married|engaged|divorced|separated)\b`,
  },
  {
    key: "relationship_status",
    verb: String.raw`(?:am|is)\s+(?:now\s+)?in\s+a\s+relationship\b`,
    value: "in a relationship",
  },
  { key: "relationship_status", verb: String.raw`(?:broke up|split up)\s+with\b`, value: "single" },
  {
    key: "relationship_status",
    verb: String.raw`(?:am|is|have been|has been|started)\s+(?:now\s+)?(?<value>dating\s+${NAME_WORD}(?:\s+${NAME_WORD})?)`,
  },
  // preference (stated as a change)
  {
    key: "preference",
    verb: String.raw`(?:have\s+|has\s+)?(?:switched|changed|moved)\s+from\s+${FREE}\s+to\s+(?<value>${FREE})${END}`,
  },
  {
    key: "preference",
    verb: String.raw`(?:am|is|became|have become|has become|went|have gone|has gone)\s+(?:now\s+|fully\s+)?(?:a\s+)?(?<value>${DIETS})\b`,
  },
  { key: "preference", verb: String.raw`now\s+prefers?\s+(?<value>${FREE})${END}` },
  { key: "preference", verb: String.raw`prefers?\s+(?<value>${FREE})\s+now\b` },
  {
    key: "preference",
    negates: true,
    verb: String.raw`(?:no longer|stopped|have stopped|has stopped)\s+(?:eat|eats|eating|drink|drinks|drinking)\s+(?<value>${FREE})${END}`,
  },
  {
    key: "preference",
    negates: true,
    verb: String.raw`(?:do not|does not)\s+(?:eat|drink)\s+(?<value>${FREE})\s+anymore\b`,
  },
  {
    key: "preference",
    negates: true,
    verb: String.raw`(?:gave up|have given up|has given up)\s+(?<value>${FREE})${END}`,
  },
];

const COMPILED = RULES.map((rule) => ({
  rule,
  re: new RegExp(`${CLAUSE}${SUBJECT}\\s+${ADVERBS}${rule.verb}`, "u"),
}));

/** "Ex-partners broke up": the two-person forms of a break-up, said by one of them. */
const BREAK_UP = new RegExp(
  String.raw`(?:^|[,;:]\s*)(?:[Mm]y\s+(?:boyfriend|girlfriend|partner|husband|wife|fianc[eé]e?)|${NAME_WORD})\s+and\s+I\s+(?:have\s+)?(?:broke up|split up|separated|got divorced)`,
  "u",
);

/** Expands the contractions the rules read past ("I'm" → "I am", "don't" → "do not"). */
function expandContractions(text: string): string {
  return text
    .replace(/[‘’]/g, "'")
    .replace(/\bcan't\b/gi, "can not")
    .replace(/\bwon't\b/gi, "will not")
    .replace(/\b(\w+)n't\b/gi, "$1 not")
    .replace(/\bI'm\b/g, "I am")
    .replace(/\b(\w+)'ve\b/gi, "$1 have")
    .replace(/\b(\w+)'ll\b/gi, "$1 will")
    .replace(/\b(\w+)'d\b/gi, "$1 would")
    .replace(/\b(\w+)'re\b/gi, "$1 are")
    .replace(/\b(he|she|it|that|there)'s\b/gi, "$1 is");
}

/** Compares attribute values: lower case, no article or punctuation. */
export function normaliseValue(value: string): string {
  return value
    .toLowerCase()
    .replace(/[.,;:!?"']+$/g, "")
    .replace(/^(the|a|an)\s+/, "")
    .replace(/\s+/g, " ")
    .trim();
}

function subjectOf(raw: string, speaker: string | null): string | null {
  const s = raw.trim();
  if (s === "I") return speaker;
  const mine = /^[Mm]y\s+(.+?)(?:\s+\p{Lu}.*)?$/u.exec(s);
  if (mine?.[1]) return speaker === null ? null : `${speaker}'s ${mine[1].toLowerCase()}`;
  if (/^the user$/i.test(s)) return "the user";
  const first = s.split(/\s+/)[0] ?? "";
  if (NOT_A_SUBJECT.test(first.replace(/'s$/, ""))) return null;
  return s.toLowerCase().replace(/'s?\s+/, "'s ");
}

function trimValue(value: string): string {
  return value.replace(/[.,;:!?]+$/, "").trim();
}

/**
 * The single-valued attribute a sentence states, if any. `speaker` is the normalised subject "I"
 * and "my" refer to (null: the sentence is already in the third person, e.g. a stored memory).
 */
export function detectAttribute(
  sentence: string,
  speaker: string | null,
): DetectedAttribute | null {
  const quoted = /^(.+?) said: "(.*)"$/s.exec(sentence);
  if (quoted?.[1] && quoted[2] !== undefined)
    return detectAttribute(quoted[2], quoted[1].toLowerCase());
  const text = expandContractions(sentence).trim().replace(AUX_ADVERBS, "$1 ");
  if (BLOCKERS.test(text) || MODAL_MAY.test(text)) return null;
  if (speaker !== null) {
    const breakUp = BREAK_UP.exec(text);
    if (breakUp) {
      const value = /divorced/.test(breakUp[0])
        ? "divorced"
        : /separated/.test(breakUp[0])
          ? "separated"
          : "single";
      return { attribute: { subject: speaker, key: "relationship_status", value }, negates: false };
    }
  }
  let best: { found: DetectedAttribute; at: number } | null = null;
  for (const { rule, re } of COMPILED) {
    const m = re.exec(text);
    if (!m?.groups?.subject) continue;
    const subject = subjectOf(m.groups.subject, speaker);
    if (subject === null) continue;
    const raw = rule.value ?? trimValue(m.groups.value ?? "");
    if (rule.value === undefined && raw === "") continue;
    if (rule.proper && !/^(the\s+)?[\p{Lu}\d]/u.test(raw)) continue;
    const found: DetectedAttribute = {
      attribute: { subject, key: rule.key, value: raw },
      negates: rule.negates === true,
    };
    // The earliest statement wins; for the same key, a new value beats a negation.
    if (
      best === null ||
      m.index < best.at ||
      (best.found.negates && !found.negates && best.found.attribute.key === rule.key)
    ) {
      best = { found, at: m.index };
    }
  }
  return best?.found ?? null;
}
