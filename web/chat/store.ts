const EMAIL = 'ai-runtime.email';
const CONVERSATION = 'ai-runtime.conversation';

// Storage can be unavailable (private modes, disabled cookies); the UI then just forgets across reloads.
function read(key: string): string | undefined {
  try {
    return localStorage.getItem(key) ?? undefined;
  } catch {
    return undefined;
  }
}

function write(key: string, value: string | undefined): void {
  try {
    if (value === undefined) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    /* see read() */
  }
}

export const saved = {
  email: (): string | undefined => read(EMAIL),
  setEmail: (email: string | undefined): void => write(EMAIL, email),
  conversation: (): string | undefined => read(CONVERSATION),
  setConversation: (id: string | undefined): void => write(CONVERSATION, id),
};
