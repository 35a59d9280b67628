/**
 * A conversation's Redis keys. The id sits in a hash tag, so every key of one conversation lands in one Redis Cluster
 * slot (a Lua script may touch several of them) while conversations spread over the cluster.
 */
export function conversationKey(prefix: string, conversationId: string, kind: 'events' | 'lease'): string {
  return `${prefix}:conv:{${conversationId}}:${kind}`;
}
