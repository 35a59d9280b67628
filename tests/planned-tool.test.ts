import { describe, expect, it } from 'vitest';
import { movedToolResult } from '../src/mcp/planned-tool.js';
import type { ToolDescriptor } from '../src/mcp/tool-descriptor.js';

const descriptor = (server: string, remoteName: string, name = remoteName): ToolDescriptor => ({
  name,
  server,
  remoteName,
  description: '',
  inputSchema: { type: 'object' },
  annotations: {},
  pinsMailbox: false,
});

describe('an approved call reaches the tool it was approved for, or none', () => {
  it('runs when the name still leads to the planned server and tool', () => {
    expect(movedToolResult('run', descriptor('a', 'run'), { server: 'a', tool: 'run' })).toBeUndefined();
    expect(movedToolResult('a__run', descriptor('a', 'run', 'a__run'), { server: 'a', tool: 'run' })).toBeUndefined();
  });

  it('a catalog change between approval and send that puts server B\'s "run" under the approved name is refused', () => {
    const moved = movedToolResult('run', descriptor('b', 'run'), { server: 'a', tool: 'run' });
    expect(moved).toMatchObject({ isError: true });
    expect(moved?.text).toMatch(/approved for "run" on server "a".*server "b"/);
  });

  it('a tool that left the catalog is not run, and says so', () => {
    expect(movedToolResult('run', undefined, { server: 'a', tool: 'run' })?.text).toMatch(/no longer offered/);
  });

  it('a call planned for a tool the catalog did not know (the user was asked) goes to whatever the name is now', () => {
    expect(movedToolResult('send_email', descriptor('mail', 'send_email'), undefined)).toBeUndefined();
  });
});
