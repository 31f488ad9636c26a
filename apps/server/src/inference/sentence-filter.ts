import type { Sentence, Token } from "./nlp.ts";

/**
 * Which sentences of a conversation are worth remembering. Greetings, thanks, acknowledgements,
 * emoji, bare questions and requests are dropped; statements about the speaker and the world are
 * kept. An assistant's sentences about itself or addressed to the user are dropped too: they are
 * conversation, not facts.
 */

const FILLER = new Set(
  `hi hello hey hiya yo howdy greetings good morning afternoon evening night day thanks thank thx ty tysm you so much
  very a lot lots ok okay k kk sure sounds sound good great cool nice awesome perfect fine alright all right yes yeah yep
  yup no nope nah lol lmao haha hahaha hehe rofl omg wow oh ah aha hmm hm um uh well bye goodbye cya see later soon take
  care cheers welcome np problem worries of course absolutely totally exactly indeed agreed right true got it understood
  makes sense noted i i'm 'm me too same that that's this 's is was interesting amazing wonderful lovely love please
  appreciate appreciated help helpful really just will do done let think there again anyway am glad happy doing
  thankful grateful for the your and to oops sorry my bad excellent brilliant fantastic neat sweet haha hahah xd
  hola bonjour salut merci beaucoup danke schön schon vielen dank gracias muchas obrigado obrigada ciao grazie mille
  hallo tschüss adios arigato gut bien bueno buenos buenas dias días tardes noches bom dia bonsoir bonne nuit`.split(
    /\s+/,
  ),
);

/** Leading words that ask the assistant to remember what follows: the rest is the statement. */
const REMEMBER_PREFIX =
  /^\s*(?:(?:please|pls|also|and|oh)\s*,?\s+)?(?:remember|note|keep in mind|don't forget|do not forget|fyi|for the record|just so you know|for your information)(?:\s+that)?\s*[:,]?\s+/i;

/** Strips a "remember that ..." prefix. */
export function withoutRememberPrefix(text: string): string {
  const stripped = text.replace(REMEMBER_PREFIX, "");
  return stripped === text ? text : stripped.charAt(0).toUpperCase() + stripped.slice(1);
}

/** Tokens with letters or digits (wink calls a run of Chinese characters "unk"). */
const words = (tokens: readonly Token[]): Token[] =>
  tokens.filter((t) => t.type !== "emoji" && /[\p{L}\p{N}]/u.test(t.value));

function isFiller(tokens: readonly Token[]): boolean {
  const list = words(tokens);
  return list.every((t) => FILLER.has(t.normal));
}

function isQuestion(sentence: Sentence): boolean {
  return /\?\s*["')\]]*\s*$/.test(sentence.text.trim());
}

/** "Tell me a joke", "Please book a table": a request, not a statement. */
function isRequest(tokens: readonly Token[]): boolean {
  const list = words(tokens);
  let first = list[0];
  if (first && (first.normal === "please" || first.normal === "pls" || first.normal === "kindly"))
    return true;
  if (first?.normal === "let" || first?.normal === "let's") return true;
  first = list[0];
  return (
    first !== undefined &&
    first.pos === "VERB" &&
    first.lemma === first.normal &&
    /^\p{Lu}/u.test(first.value)
  );
}

const ADDRESSED = /^(you|your|you're|you've|yours|u|ur)$/;
const SELF = /^(i|i'm|me|my|mine|we|us|our|let's)$/;

/** Whether a sentence of a message with this role should become a fact. */
export function keepSentence(sentence: Sentence, role: "user" | "assistant"): boolean {
  const tokens = sentence.tokens;
  if (!/\p{L}/u.test(sentence.text)) return false; // emoji, numbers or punctuation only
  if (words(tokens).length === 0) return false;
  if (isQuestion(sentence)) return false;
  if (isFiller(tokens)) return false;
  const first = words(tokens)[0];
  if (first && ADDRESSED.test(first.normal)) return false;
  if (isRequest(tokens)) return false;
  if (role === "assistant" && tokens.some((t) => SELF.test(t.normal) || ADDRESSED.test(t.normal)))
    return false;
  // One word ("Vegetarian.", "Lisbon!") is an answer without its question; scripts written without
  // spaces (Chinese, Japanese) make a whole sentence one token.
  return (
    words(tokens).length >= 2 ||
    (/[^\P{L}\p{Script=Latin}]/u.test(sentence.text) && sentence.text.length >= 4)
  );
}
