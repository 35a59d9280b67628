/**
 * Text that came from outside (tool results, emails) reaches the model inside these tags, and the prompts say that what
 * is inside is data, never instructions. A mail can be written by anyone: it must not be able to speak as the user.
 */
export const UNTRUSTED_TAG = 'untrusted_data';

/** The tag written any way a model would still read as the tag: case, spaces, `-` for `_`, a missing `>`. */
const TAG_LOOKALIKE = /<\s*\/?\s*untrusted[\s_-]*data[^>]*>?/gi;
/** What a lookalike inside the content becomes, so the content cannot close its block (or open another). */
const DEFUSED_TAG = '[tag removed]';
/** A label is ours (a tool name, "email"), but tool names come from MCP servers: keep it to harmless characters. */
const LABEL_UNSAFE = /[^\w:.@ -]/g;

/** `text` as untrusted data, labelled with where it came from; nothing inside can end the block early. */
export function untrustedData(source: string, text: string): string {
  const label = source.replace(LABEL_UNSAFE, '');
  return `<${UNTRUSTED_TAG} source="${label}">\n${text.replace(TAG_LOOKALIKE, DEFUSED_TAG)}\n</${UNTRUSTED_TAG}>`;
}
