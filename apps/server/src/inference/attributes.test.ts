import assert from "node:assert/strict";
import { test } from "node:test";
import { detectAttribute, normaliseValue } from "./attributes.ts";

/** [sentence, expected "subject key=value" (with "NOT " for a negation) or null]. */
const LABELLED: [string, string | null][] = [
  // lives_in
  ["I live in Berlin.", "alice lives_in=Berlin"],
  ["I'm based in New York.", "alice lives_in=New York"],
  ["I just moved to São Paulo.", "alice lives_in=São Paulo"],
  ["Yesterday I moved to Madrid.", "alice lives_in=Madrid"],
  ["I relocated to the Netherlands.", "alice lives_in=the Netherlands"],
  ["I moved from Berlin to Lisbon.", "alice lives_in=Lisbon"],
  ["I moved to the countryside.", "alice lives_in=the countryside"],
  ["I no longer live in Berlin.", "NOT alice lives_in=Berlin"],
  ["I don't live in Berlin anymore.", "NOT alice lives_in=Berlin"],
  ["I moved out of London.", "NOT alice lives_in=London"],
  // works_at
  ["I work at Acme Corp.", "alice works_at=Acme Corp"],
  ["I work for Google.", "alice works_at=Google"],
  ["I work remotely for Stripe.", "alice works_at=Stripe"],
  ["I'm still working part-time at the library.", "alice works_at=the library"],
  ["I joined Stripe.", "alice works_at=Stripe"],
  ["I started a new job at Bank of America.", "alice works_at=Bank of America"],
  ["I got a job at Spotify!", "alice works_at=Spotify"],
  ["I'm a nurse at St Mary's Hospital.", "alice works_at=St Mary's Hospital"],
  ["I work at a startup.", "alice works_at=a startup"],
  ["I quit my job at Acme.", "NOT alice works_at=Acme"],
  ["I quit my job.", "NOT alice works_at="],
  ["I also lost my job at Door Dash this month.", "NOT alice works_at=Door Dash"],
  ["I don't work at Globex anymore.", "NOT alice works_at=Globex"],
  ["I was laid off from Initech.", "NOT alice works_at=Initech"],
  // job_title
  ["I work as a nurse.", "alice job_title=nurse"],
  ["I'm a software engineer.", "alice job_title=software engineer"],
  ["I got promoted to senior engineer.", "alice job_title=senior engineer"],
  ["I became a teacher.", "alice job_title=teacher"],
  // relationship_status
  ["I'm single.", "alice relationship_status=single"],
  ["I'm married.", "alice relationship_status=married"],
  ["I got engaged!", "alice relationship_status=engaged"],
  ["I'm divorced.", "alice relationship_status=divorced"],
  ["I'm dating Sam.", "alice relationship_status=dating Sam"],
  ["I'm in a relationship.", "alice relationship_status=in a relationship"],
  ["I broke up with Sam.", "alice relationship_status=single"],
  ["My girlfriend and I broke up.", "alice relationship_status=single"],
  // preference
  ["I switched from coffee to tea.", "alice preference=tea"],
  ["I'm vegetarian now.", "alice preference=vegetarian"],
  ["I went vegan.", "alice preference=vegan"],
  ["I now prefer the window seat.", "alice preference=the window seat"],
  ["I prefer Python now.", "alice preference=Python"],
  ["I no longer eat meat.", "NOT alice preference=meat"],
  ["I gave up sugar.", "NOT alice preference=sugar"],
  // other people's attributes are theirs
  ["My sister lives in Paris.", "alice's sister lives_in=Paris"],
  ["My brother Tom works at IBM.", "alice's brother works_at=IBM"],
  ["Bob works for Google.", "bob works_at=Google"],
  // stored memories in the third person, as reconciliation reads them
  ["Alice lives in Lisbon.", "alice lives_in=Lisbon"],
  ["Alice moved to Lisbon in October 2026.", "alice lives_in=Lisbon"],
  ["Alice's sister lives in Paris.", "alice's sister lives_in=Paris"],
  ["The user works at Acme.", "the user works_at=Acme"],
  ['Alice said: "I live in Porto."', "alice lives_in=Porto"],
  // traps: no attribute
  ["I visited Rome.", null],
  ["I'm moving to Berlin next month.", null],
  ["I'm in Rome this week.", null],
  ["I used to live in Berlin.", null],
  ["I lived in Berlin for five years.", null],
  ["I'd love to live in Tokyo.", null],
  ["Maybe I'll move to Oslo.", null],
  ["I'm thinking about moving to Madrid.", null],
  ["I want to work at Google.", null],
  ["If I worked at Google I would be rich.", null],
  ["I hope to get married someday.", null],
  ["Do you live in Paris?", null],
  ["Where do I work?", null],
  ["I'm a big fan of jazz.", null],
  ["I joined a gym.", null],
  ["I quit smoking.", null],
  ["I live with my sister.", null],
  ["He lives in Paris.", null],
  ["They got married.", null],
  ["My friend said I work at Acme.", null],
  ["I don't drink coffee.", null],
];

const shown = (sentence: string): string | null => {
  const found = detectAttribute(sentence, "alice");
  if (!found) return null;
  const a = found.attribute;
  return `${found.negates ? "NOT " : ""}${a.subject} ${a.key}=${a.value}`;
};

test("attribute rules on labelled sentences, traps included", () => {
  const wrong = LABELLED.filter(([sentence, expected]) => shown(sentence) !== expected).map(
    ([sentence, expected]) => `${sentence} → ${shown(sentence)} (expected ${expected})`,
  );
  assert.deepEqual(wrong, []);
});

test("without a known speaker, 'I' and 'my' state nothing", () => {
  assert.equal(detectAttribute("I live in Berlin.", null), null);
  assert.equal(detectAttribute("My sister lives in Paris.", null), null);
});

test("values compare without case, article or punctuation", () => {
  assert.equal(normaliseValue("The Netherlands."), "netherlands");
  assert.equal(normaliseValue("  Acme   Corp "), "acme corp");
});
