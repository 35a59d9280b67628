import { createHash } from 'node:crypto';

/**
 * The prompt cache of the fake Messages API, after Anthropic's docs: the prompt is read as blocks in the order tools →
 * system → messages; a block with `cache_control` ends a cacheable prefix. A request reads the longest prefix that an
 * earlier request wrote, and writes every marked prefix longer than that. Prefixes below the model's minimum length
 * are not cached at all (1024 tokens for most models), as the real API silently does.
 */

/** Tokens as Anthropic's docs estimate them for English: about four characters each. */
const CHARS_PER_TOKEN = 4;

export interface CacheUsage {
  /** Not read from the cache and not written to it: the part after the last breakpoint. */
  input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
}

interface Block {
  tokens: number;
  marked: boolean;
  /** The block's own text, hashed into the prefix that ends with it. */
  json: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function blockOf(value: unknown): Block {
  const marked = isRecord(value) && isRecord(value['cache_control']) && value['cache_control']['type'] === 'ephemeral';
  // The marker is not part of the content: the same text with or without it is the same prefix.
  const content = isRecord(value) ? Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'cache_control')) : value;
  const json = JSON.stringify(content);
  return { tokens: Math.ceil(json.length / CHARS_PER_TOKEN), marked, json };
}

/** The request's prompt as blocks, in the order the cache reads them. */
export function promptBlocks(body: { tools?: unknown[] | undefined; system?: unknown; messages?: unknown[] | undefined }): Block[] {
  const system = typeof body.system === 'string' ? [{ type: 'text', text: body.system }] : Array.isArray(body.system) ? body.system : [];
  const fromMessages = (body.messages ?? []).flatMap((message) => {
    if (!isRecord(message)) return [blockOf(message)];
    const content = message['content'];
    const blocks: unknown[] = typeof content === 'string' ? [{ type: 'text', text: content }] : Array.isArray(content) ? content : [];
    // The role is part of the prefix: the same text said by the other side is a different prompt.
    return blocks.map((b) => {
      const block = blockOf(b);
      return { ...block, json: `${String(message['role'])}:${block.json}` };
    });
  });
  return [...(body.tools ?? []).map(blockOf), ...system.map(blockOf), ...fromMessages];
}

export class FakePromptCache {
  private readonly written = new Set<string>();

  constructor(private readonly minCacheableTokens: number) {}

  /** What one request reads and writes; it writes, so the next identical request reads. */
  apply(blocks: readonly Block[]): CacheUsage {
    const total = blocks.reduce((n, b) => n + b.tokens, 0);
    const hash = createHash('sha256');
    const breakpoints: Array<{ key: string; tokens: number }> = [];
    let tokens = 0;
    for (const block of blocks) {
      hash.update(block.json).update('\u0000');
      tokens += block.tokens;
      if (block.marked && tokens >= this.minCacheableTokens) breakpoints.push({ key: hash.copy().digest('hex'), tokens });
    }
    const read = breakpoints.filter((b) => this.written.has(b.key)).at(-1)?.tokens ?? 0;
    const toWrite = breakpoints.filter((b) => b.tokens > read);
    for (const b of toWrite) this.written.add(b.key);
    const created = (toWrite.at(-1)?.tokens ?? read) - read;
    return { input_tokens: total - read - created, cache_read_input_tokens: read, cache_creation_input_tokens: created };
  }

  clear(): void {
    this.written.clear();
  }
}
