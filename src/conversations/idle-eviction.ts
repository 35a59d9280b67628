import { wireState } from '../machines/conversation-machine.js';
import { QUIET_STATES, type LiveConversation } from './live-conversation.js';

/** The idle sweep runs at most this often; eviction needs no precision. */
const MAX_SWEEP_INTERVAL_MS = 30_000;

/** Half the TTL: an idle actor lives at most half as long again past it before a sweep finds it. */
export function sweepIntervalMs(idleActorTtlMs: number): number {
  return Math.min(idleActorTtlMs / 2, MAX_SWEEP_INTERVAL_MS);
}

/** What keeps a quiet actor alive past its TTL. */
export interface IdleEvictionPolicy {
  /** An actor unused this long may be stopped, to be restored from storage when it is used again. */
  idleActorTtlMs: number;
  /** Writes of this conversation wait in memory (the database refused them). */
  holdsUnsaved: (conversationId: string) => boolean;
  /** A socket here watches it while nodes share it. */
  keepsAlive: (conversation: LiveConversation) => boolean;
}

/** Whether the idle sweep may stop this live actor now. */
export function isEvictable(conversation: LiveConversation, now: number, policy: IdleEvictionPolicy): boolean {
  // A step waiting for approval is stored with its decisions, so it is restored as it was: evicting it is safe.
  const quiet = QUIET_STATES.has(wireState(conversation.actor.getSnapshot().value));
  // Restored from storage, it would come back without the messages storage has not taken yet.
  const unsaved = policy.holdsUnsaved(conversation.id);
  // Watched here while nodes share it: only a live actor follows the turns other nodes run.
  const watched = policy.keepsAlive(conversation);
  return quiet && !unsaved && !watched && now - conversation.lastActiveAt >= policy.idleActorTtlMs;
}
