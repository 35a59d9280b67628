const EMAIL = 'ai-runtime.email';
const CONVERSATION = 'ai-runtime.conversation';
const TOKEN = 'ai-runtime.token';

type Kind = 'localStorage' | 'sessionStorage';

// Storage can be unavailable (private modes, disabled cookies); the UI then just forgets across reloads.
function read(kind: Kind, key: string): string | undefined {
  try {
    return window[kind].getItem(key) ?? undefined;
  } catch {
    return undefined;
  }
}

function write(kind: Kind, key: string, value: string | undefined): void {
  try {
    if (value === undefined) window[kind].removeItem(key);
    else window[kind].setItem(key, value);
  } catch {
    /* see read() */
  }
}

export const saved = {
  email: (): string | undefined => read('localStorage', EMAIL),
  setEmail: (email: string | undefined): void => write('localStorage', EMAIL, email),
  conversation: (): string | undefined => read('localStorage', CONVERSATION),
  setConversation: (id: string | undefined): void => write('localStorage', CONVERSATION, id),
  // A bearer credential: this tab only, gone when it closes (every new socket signs in with it again until then).
  token: (): string | undefined => read('sessionStorage', TOKEN),
  setToken: (token: string | undefined): void => write('sessionStorage', TOKEN, token),
};
