/** A tool as the runtime offers it to the LLM: exposed name, where it routes, and what it may do. */
export interface ToolDescriptor {
  /** The name the LLM sees; `<server>__<tool>` when two servers offer the same tool. */
  name: string;
  server: string;
  /** The tool's name on its own server. */
  remoteName: string;
  description: string;
  inputSchema: Record<string, unknown>;
  annotations: ToolAnnotations;
  /**
   * The tool belongs to a mail server: its mailbox arguments are the signed-in user's, never the model's choice. Set
   * from what the server says about itself (`MAILBOX_CAPABILITY`), not from the name it was configured under.
   */
  pinsMailbox: boolean;
}

export interface ToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/** Separator between server and tool in a namespaced name; `.` and `/` confuse some models' tool templates. */
export const NAMESPACE_SEPARATOR = '__';

/**
 * The experimental capability a server advertises in its `initialize` result to say "my tools' `email`/`from`
 * arguments name a mailbox": the bundled mail server does, so it is pinned however it is registered (any name, URL
 * or stdio).
 */
export const MAILBOX_CAPABILITY = 'ai-runtime/mailbox';
