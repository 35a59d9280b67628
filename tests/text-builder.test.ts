import { describe, expect, it } from 'vitest';
import { TextBuilder } from '../src/conversations/text-builder.js';

describe('TextBuilder (an answer\'s text as it streams)', () => {
  it('gives back exactly what was appended, read at any point, across its flat blocks', () => {
    const builder = new TextBuilder();
    let expected = '';
    // 5,000 appends cross several blocks; some are empty, some not one-byte, one is large.
    for (let i = 0; i < 5_000; i++) {
      const piece = i % 7 === 0 ? '' : i % 11 === 0 ? 'é€😀' : i === 2_500 ? 'x'.repeat(100_000) : `t${i} `;
      builder.append(piece);
      expected += piece;
      if (i % 999 === 0) expect(builder.toString()).toBe(expected);
    }
    expect(builder.toString()).toBe(expected);
    expect(builder.length).toBe(expected.length);
  });

  it('starts over empty after clear', () => {
    const builder = new TextBuilder();
    for (let i = 0; i < 2_000; i++) builder.append('ab');
    builder.clear();
    expect(builder.length).toBe(0);
    expect(builder.toString()).toBe('');
    builder.append('next step');
    expect(builder.toString()).toBe('next step');
  });
});
