/**
 * Text that came from outside (tool results, emails) reaches the model inside these tags, and the prompts say that what
 * is inside is data, never instructions. A mail can be written by anyone: it must not be able to speak as the user.
 */
export const UNTRUSTED_TAG = 'untrusted_data';

/**
 * The tag's name written any way a model would still read as the tag: any case, any punctuation or spacing between the
 * two words (`_`, `-`, `.`, spaces), with or without brackets. Only the name is matched, never up to a `>`, so a lone
 * opener cannot swallow the rest of the text. Matched after `normalizeForModel`, so full-width letters and invisible
 * characters cannot hide it.
 */
const TAG_NAME_LOOKALIKE = /untrusted[\W_]{0,16}data/giu;
/** What a lookalike inside the content becomes, so the content cannot close its block (or open another). */
const DEFUSED_TAG = '[tag removed]';
/** Zero-width and other format characters: invisible to a reader, and a way to split a word past a pattern. */
const FORMAT_CHARACTERS = /\p{Cf}/gu;

/**
 * NFKC folds compatibility forms (full-width `＜／ｕｎｔｒｕｓｔｅｄ＿ｄａｔａ＞`, ligatures) into the plain characters a model
 * reads them as; the text keeps its meaning for the model.
 */
function normalizeForModel(text: string): string {
  return text.normalize('NFKC').replace(FORMAT_CHARACTERS, '');
}

/** A label is ours (a tool name, "email"), but tool names come from MCP servers: keep it to harmless characters. */
const LABEL_UNSAFE = /[^\w:.@ -]/g;

/** `text` as untrusted data, labelled with where it came from; nothing inside can end the block early. */
export function untrustedData(source: string, text: string): string {
  const label = source.replace(LABEL_UNSAFE, '');
  return `<${UNTRUSTED_TAG} source="${label}">\n${normalizeForModel(text).replace(TAG_NAME_LOOKALIKE, DEFUSED_TAG)}\n</${UNTRUSTED_TAG}>`;
}
