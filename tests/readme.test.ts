import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV_OVERRIDES } from '../src/config/load.js';
import { ConfigSchema } from '../src/config/schema.js';
import { ErrorCode } from '../src/errors.js';
import { ClientMessageSchemas, ServerMessageSchema } from '../src/protocol/protocol.js';
import { TracingEnvSchema } from '../src/tracing/tracing-env.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The README is the user's manual: these keep it from drifting away from the schemas it describes. */
describe('README', () => {
  it('documents every config key', () => {
    // A section with a transform (`[llm]` fills in its provider's base_url) is a pipe: its keys are on its input.
    type Section = { shape?: Record<string, unknown>; in?: { shape: Record<string, unknown> } };
    const shapeOf = (section: Section) => section.shape ?? section.in?.shape ?? {};
    const keys = Object.entries(ConfigSchema.shape).flatMap(([section, schema]) =>
      Object.keys(shapeOf(schema.unwrap() as unknown as Section)).map((key) => `${section}.${key}`),
    );
    expect(keys.length).toBeGreaterThan(20);
    expect(keys.filter((key) => !readme.includes(`\`${key}\``))).toEqual([]);
  });

  it('documents every environment override', () => {
    const variables = [...ENV_OVERRIDES.map(([variable]) => variable), 'PORT', 'AI_RUNTIME_CONFIG'];
    expect(variables.filter((v) => !readme.includes(`\`${v}\``))).toEqual([]);
  });

  it('documents every OTEL_* variable the runtime reads', () => {
    expect(Object.keys(TracingEnvSchema.shape).filter((v) => !readme.includes(`\`${v}\``))).toEqual([]);
  });

  it('documents every error code and every message type, both ways', () => {
    expect(Object.values(ErrorCode).filter((code) => !readme.includes(`\`${code}\``))).toEqual([]);
    expect(Object.keys(ClientMessageSchemas).filter((type) => !readme.includes(`\`${type}\``))).toEqual([]);
    const serverTypes = ServerMessageSchema.options.map((option) => option.shape.type.value);
    expect(serverTypes.filter((type) => !readme.includes(`\`${type}\``))).toEqual([]);
  });
});
