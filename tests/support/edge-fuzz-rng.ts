/**
 * The seeded generator behind `edge-fuzz.test.ts`'s cases (`edge-fuzz-http.ts`, `edge-fuzz-frames.ts`). Every choice
 * comes from it, so a failing run is replayed exactly with `FUZZ_SEED=<seed>`.
 */

export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

/** mulberry32: tiny, fast and good enough to spread test cases; not for anything secret. */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return { next, int, pick: (items) => items[int(items.length)]!, chance: (p) => next() < p };
}

const ASCII = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!$&\'()*+,;=:@';

export function text(rng: Rng, length: number, alphabet = ASCII): string {
  // By code point: an emoji is two UTF-16 units, and half of one is not text.
  const chars = Array.from(alphabet);
  let out = '';
  for (let i = 0; i < length; i++) out += chars[rng.int(chars.length)];
  return out;
}

export function nested(depth: number, open: string, close: string): string {
  return open.repeat(depth) + close.repeat(depth);
}
