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
