import { ApprovalPolicy } from '../config/schema.js';
import type { ToolDescriptor } from './tool-descriptor.js';

/**
 * Whether a call needs the user's yes first: the config's per-tool policy (by exposed or original name) wins, else the
 * server's `destructiveHint`. Tools without annotations run without asking; give them a policy to gate them.
 *
 * A name no server offers right now (its server reconnecting, or a name the model made up) asks first: the call is
 * routed when it runs, and by then the catalog may be back with a tool that would have needed approval.
 */
export function requiresApproval(policies: Readonly<Record<string, ApprovalPolicy>>, tool: ToolDescriptor | undefined, name: string): boolean {
  const policy = policies[name] ?? (tool ? policies[tool.remoteName] : undefined);
  if (policy) return policy === ApprovalPolicy.Required;
  if (!tool) return true;
  return tool.annotations.destructiveHint === true;
}
