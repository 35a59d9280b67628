/**
 * Appends per rope node, gathered before they are joined into one flat block. A rope node costs 32 bytes in V8 while
 * a model's token is about 4 characters; an array slot costs 8. Large enough that the blocks' own rope stays a few
 * thousand nodes for a book-length answer, small enough that the pending pieces are a few KiB of pointers.
 */
const PIECES_PER_BLOCK = 1024;

/**
 * Text grown one token at a time (an answer as it streams). `text += token` builds a rope: one 32-byte node per
 * token, kept until the text is read and V8 flattens it. A 4.7 MB answer in 4-character tokens held 37 MB per copy
 * that way (measured: bench/slow-reader.ts). Here every `PIECES_PER_BLOCK` tokens are joined into a flat string, so
 * the text costs about its own size, and each character is copied once more at most when it is read.
 */
export class TextBuilder {
  private blocks = '';
  private pieces: string[] = [];
  /** UTF-16 code units so far, like `string.length`. */
  length = 0;

  append(text: string): void {
    this.length += text.length;
    this.pieces.push(text);
    if (this.pieces.length >= PIECES_PER_BLOCK) this.seal();
  }

  /** The text so far; reading it does not stop further appends. */
  toString(): string {
    this.seal();
    return this.blocks;
  }

  clear(): void {
    this.blocks = '';
    this.pieces = [];
    this.length = 0;
  }

  private seal(): void {
    if (this.pieces.length === 0) return;
    this.blocks += this.pieces.join('');
    this.pieces = [];
  }
}
