import { nested, text, type Rng } from './edge-fuzz-rng.js';

/** Hostile WebSocket frames for `edge-fuzz.test.ts`. */

export const FrameKind = {
  BadJson: 'bad-json',
  WrongTypes: 'wrong-types',
  UnknownType: 'unknown-type',
  HugeString: 'huge-string',
  Binary: 'binary',
  Deep: 'deeply-nested',
  WrongValues: 'wrong-values',
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export interface FrameCase {
  kind: FrameKind;
  data: string | Buffer;
  binary: boolean;
}

export interface FrameOptions {
  /** Message types a well-formed frame may carry; others (`auth`, `ping`) would change what the socket answers. */
  types: readonly string[];
  /** Frames stay under `[server] max_payload_bytes`; bigger ones close the socket, as the protocol says. */
  maxBytes: number;
}

/** A well-shaped frame of one of `types` with values that are wrong for it (unknown ids, dates, calls). */
function wrongValues(rng: Rng, types: readonly string[]): Record<string, unknown> {
  const type = rng.pick(types);
  const id = rng.pick([text(rng, 1 + rng.int(100)), '00000000-0000-0000-0000-000000000000', '../../x']);
  return {
    type,
    message: rng.pick(['hi', text(rng, 1 + rng.int(50))]),
    conversation_id: id,
    call_id: text(rng, 1 + rng.int(20)),
    last_seq: rng.pick([0, 1, 2 ** 31, 99]),
    up_to: rng.pick(['2020-01-01T00:00:00Z', '2999-12-31T23:59:59+14:00']),
    arguments: { to: 'x' },
    reason: text(rng, rng.int(100)),
  };
}

export function frameCase(rng: Rng, { types, maxBytes }: FrameOptions): FrameCase {
  const roll = rng.next();
  const string = (kind: FrameKind, data: string): FrameCase => ({ kind, data, binary: false });
  if (roll < 0.2) return string(FrameKind.BadJson, rng.pick([text(rng, rng.int(100)), '{"type":"chat","message":"x"', '{"type":', "{'type':'chat'}", '', 'undefined', '{"type":"chat",}']));
  if (roll < 0.35) {
    const wrong = rng.pick<unknown>([null, 42, 'chat', [], ['chat'], true, { type: 7 }, { type: null }, { type: ['chat'] }, { type: { a: 1 } }, { type: 'chat', message: 5 }, { type: 'resume', conversation_id: 3 }, { type: 'chat', message: '' }, { type: 'resume', conversation_id: 'x', last_seq: -1 }]);
    return string(FrameKind.WrongTypes, JSON.stringify(wrong));
  }
  if (roll < 0.45) return string(FrameKind.UnknownType, JSON.stringify({ type: rng.pick(['', '__proto__', 'constructor', 'toString', 'CHAT', text(rng, 1 + rng.int(30))]) }));
  if (roll < 0.5) return string(FrameKind.HugeString, JSON.stringify({ type: rng.pick(types), message: 'x'.repeat(Math.floor(maxBytes / 2) + rng.int(Math.floor(maxBytes / 2) - 200)) }));
  if (roll < 0.6) {
    const data = rng.chance(0.5) ? Buffer.from(Array.from({ length: 1 + rng.int(300) }, () => rng.int(256))) : Buffer.from(JSON.stringify(wrongValues(rng, types)));
    return { kind: FrameKind.Binary, data, binary: true };
  }
  if (roll < 0.7) {
    const depth = 1 + rng.int(Math.floor(maxBytes / 12));
    const deepObject = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    return string(FrameKind.Deep, rng.chance(0.5) ? nested(depth, '[', ']') : `{"type":"${rng.pick(types)}","message":"x","conversation_id":${deepObject}}`);
  }
  return string(FrameKind.WrongValues, JSON.stringify(wrongValues(rng, types)));
}
