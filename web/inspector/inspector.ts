import type { InspectorServerMessage } from '../../src/inspector/inspector-protocol.js';
import { ActorDetail } from './actor-detail.js';
import { ActorTable } from './actor-table.js';
import { AdminApi } from './admin-api.js';
import { InspectorConnection } from './connection.js';
import { byId, setText, showError } from './dom.js';
import { ReplayPanel } from './replay-panel.js';

/** The inspector page: sign-in, the live actor list, one watched actor, and the replay panel. */

const status = byId('connection-status', HTMLElement);
const pageError = byId('inspector-error', HTMLElement);
const signin = byId('signin', HTMLElement);
const signinForm = byId('signin-form', HTMLFormElement);
const tokenInput = byId('admin-token', HTMLInputElement);
const operatorInput = byId('operator-name', HTMLInputElement);
const actorsSection = byId('actors', HTMLElement);
const replaySection = byId('replay', HTMLElement);

let api: AdminApi | undefined;
let knownActors = new Set<string>();

const detail = new ActorDetail({
  section: byId('actor-detail', HTMLElement),
  id: byId('detail-id', HTMLElement),
  status: byId('detail-status', HTMLElement),
  statechart: byId('statechart', HTMLElement),
  context: byId('actor-context', HTMLDListElement),
  timeline: byId('timeline', HTMLOListElement),
  reveal: byId('reveal', HTMLButtonElement),
});

const connection = new InspectorConnection({ message: onMessage, closed: onClosed });

const table = new ActorTable({
  body: byId('actor-rows', HTMLTableSectionElement),
  empty: byId('no-actors', HTMLElement),
  count: byId('actor-count', HTMLElement),
  userFilter: byId('filter-user', HTMLInputElement),
  stateFilter: byId('filter-state', HTMLSelectElement),
  onOpen: (conversationId) => {
    table.select(conversationId);
    connection.send({ type: 'watch', conversation_id: conversationId });
  },
});

new ReplayPanel(
  {
    section: replaySection,
    input: byId('replay-input', HTMLTextAreaElement),
    load: byId('replay-load', HTMLButtonElement),
    back: byId('replay-back', HTMLButtonElement),
    forward: byId('replay-forward', HTMLButtonElement),
    step: byId('replay-step', HTMLElement),
    state: byId('replay-state', HTMLElement),
    event: byId('replay-event', HTMLElement),
    emitted: byId('replay-emitted', HTMLElement),
    context: byId('replay-context', HTMLDListElement),
    error: byId('replay-error', HTMLElement),
  },
  (exportText) => {
    if (!api) return Promise.reject(new Error('Sign in first.'));
    return api.replay(exportText);
  },
);

signinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (token === '') return;
  const operator = operatorInput.value.trim() || undefined;
  api = new AdminApi(token, operator);
  showError(pageError, undefined);
  setText(status, 'Signing in…');
  connection.open(token, operator);
});

byId('reveal', HTMLButtonElement).addEventListener('click', () => {
  if (detail.conversationId) connection.send({ type: 'reveal', conversation_id: detail.conversationId });
});

byId('export', HTMLButtonElement).addEventListener('click', () => void exportWatched());

async function exportWatched(): Promise<void> {
  const id = detail.conversationId;
  if (!id || !api) return;
  try {
    const text = await api.exportConversation(id, detail.revealed);
    const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = `conversation-${id}.json`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    // Ready to step through right away.
    byId('replay-input', HTMLTextAreaElement).value = text;
  } catch (error) {
    showError(pageError, `Export failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function onMessage(message: InspectorServerMessage): void {
  switch (message.type) {
    case 'auth_success':
      setText(status, `Signed in as ${message.operator}`);
      signin.hidden = true;
      actorsSection.hidden = false;
      replaySection.hidden = false;
      tokenInput.value = '';
      return;
    case 'auth_error':
      showError(pageError, message.message);
      return;
    case 'error':
      showError(pageError, message.message);
      return;
    case 'actors': {
      table.update(message.actors);
      knownActors = new Set(message.actors.map((a) => a.id));
      if (detail.conversationId) detail.markStopped(!knownActors.has(detail.conversationId));
      return;
    }
    case 'watching':
      showError(pageError, undefined);
      detail.watching(message);
      return;
    case 'timeline':
      detail.timelineReset(message);
      return;
    case 'entry':
      detail.entry(message);
      return;
    case 'context':
      detail.update(message);
      return;
    case 'revealed':
      if (message.conversation_id === detail.conversationId) detail.setRevealed(true);
      return;
    case 'pong':
    case 'unwatched':
      return;
  }
}

function onClosed({ refused }: { code: number; reason: string; refused: boolean }): void {
  setText(status, refused ? 'Sign-in refused' : 'Disconnected');
  if (!refused && pageError.hidden) showError(pageError, 'The connection to the inspector closed. Sign in again.');
  signin.hidden = false;
  actorsSection.hidden = true;
  tokenInput.focus();
}
