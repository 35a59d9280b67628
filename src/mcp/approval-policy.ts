import { ApprovalPolicy } from '../config/schema.js';
import type { ToolDescriptor } from './tool-descriptor.js';

/**
 * Whether a call needs the user's yes first: the config's per-tool policy (by exposed or original name) wins, else the
 * server's `destructiveHint`. Tools without annotations run without asking; give them a policy to gate them.
 */
export function requiresApproval(policies: Readonly<Record<string, ApprovalPolicy>>, tool: ToolDescriptor | undefined, name: string): boolean {
  const policy = policies[name] ?? (tool ? policies[tool.remoteName] : undefined);
  if (policy) return policy === ApprovalPolicy.Required;
  return tool?.annotations.destructiveHint === true;
}
