/**
 * Text that came from outside (tool results, emails) reaches the model inside these tags, and the prompts say that what
 * is inside is data, never instructions. A mail can be written by anyone: it must not be able to speak as the user.
 */
export const UNTRUSTED_TAG = 'untrusted_data';

/** One letter of the tag's name in either case, or as its full-width form (`ｕ`, `Ｕ`), which a model reads the same. */
function anyFormOf(letter: string): string {
  const forms = [letter.toLowerCase(), letter.toUpperCase()].flatMap((c) => [c, String.fromCodePoint(c.codePointAt(0)! + 0xfee0)]);
  return `[${forms.join('')}]`;
}

/** Invisible format characters and combining marks a writer can slip between letters to dodge a plain match. */
const INVISIBLE = '[\\p{Cf}\\p{M}]*';
const word = (text: string) => [...text].map(anyFormOf).join(INVISIBLE);
/** What may stand between the two words: spaces, `_`, `-`, `.`, invisibles, as long as it still reads as one name. */
const JOIN = '[\\p{Z}\\s_\\-.\\uff3f\\uff0d\\uff0e\\p{Cf}]{0,8}';
/** Something that makes the name a tag: `<`, `</`, `&lt;`, their look-alikes, before it; `>` or an attribute after it. */
const OPENER = '(?:<|\\uff1c|\\u2039|\\u2329|\\u3008|&lt;|/|\\uff0f)';
const CLOSER = '(?:>|\\uff1e|\\u203a|\\u232a|\\u3009|&gt;|\\s+\\w+\\s*=)';

/**
 * The tag's name where it reads as a tag, however written. Only the name is replaced: the text around it, and the
 * words "untrusted data" in a sentence or a file name, stay as they are.
 */
const TAG_NAME_AS_TAG = new RegExp(
  `(?<=${OPENER}[\\s/\\uff0f\\p{Cf}]{0,4})${word('untrusted')}${JOIN}${word('data')}|${word('untrusted')}${JOIN}${word('data')}(?=[\\s\\p{Cf}]{0,4}${CLOSER})`,
  'gu',
);
/** What a lookalike inside the content becomes, so the content cannot close its block (or open another). */
const DEFUSED_TAG = '[tag removed]';
/** A label is ours (a tool name, "email"), but tool names come from MCP servers: keep it to harmless characters. */
const LABEL_UNSAFE = /[^\w:.@ -]/g;

/** `text` as untrusted data, labelled with where it came from; nothing inside can end the block early. */
export function untrustedData(source: string, text: string): string {
  const label = source.replace(LABEL_UNSAFE, '');
  return `<${UNTRUSTED_TAG} source="${label}">\n${text.replace(TAG_NAME_AS_TAG, DEFUSED_TAG)}\n</${UNTRUSTED_TAG}>`;
}
