import type { Config } from '../config/schema.js';
import type { ConversationHubOptions } from '../conversations/conversation-hub-options.js';
import type { Logger } from '../logger.js';
import type { Authenticate } from '../server/auth.js';
import type { HttpRoute, SocketHandler } from '../server/ws-server.js';
import type { Db } from '../storage/database.js';
import { EventJournal } from './event-journal.js';
import { inspectorRoutes } from './inspector-routes.js';
import { InspectorSocket } from './inspector-socket.js';
import { InspectorStore } from './inspector-store.js';
import { LiveActors } from './live-actors.js';
import type { InspectorRateLimits } from './operator-sign-in.js';
import { RevealAudit } from './reveal-audit.js';
import { conversationStatechart } from './statechart.js';
import { createStatelyForwarder } from './stately-forwarder.js';

export const INSPECTOR_SOCKET_PATH = '/inspector/ws';

export interface InspectorOptions {
  config: Pick<Config, 'admin' | 'inspector'>;
  db: Db;
  logger: Logger;
  /** Forward inspection events to a Stately inspector at `config.inspector.stately_url`. */
  stately: boolean;
  /** Lets admin-role JWTs in, besides the `[admin] token`. */
  authenticate?: Authenticate;
  /** The per-IP connection and sign-in budgets the chat socket spends too. Absent: nothing is rate limited. */
  limits?: InspectorRateLimits;
}

export interface Inspector {
  /** For `ConversationHub`: observes each actor's system. */
  readonly observe: NonNullable<ConversationHubOptions['observe']>;
  readonly lifecycle: NonNullable<ConversationHubOptions['lifecycle']>;
  readonly routes: Record<string, HttpRoute>;
  readonly sockets: Record<string, SocketHandler>;
  /** Writes the journal's last events and stops timers. Call before the database closes; safe to call twice. */
  close(): Promise<void>;
}

/** The live actor inspector: observers for the hub, the journal, the socket, and the export/replay endpoints. */
export function createInspector({ config, db, logger, stately, authenticate, limits }: InspectorOptions): Inspector {
  const store = new InspectorStore(db);
  const journal = new EventJournal({ store, logger });
  const audit = new RevealAudit(store, logger);
  const forwarder = stately ? createStatelyForwarder(config.inspector.stately_url, logger) : undefined;
  const socket: InspectorSocket = new InspectorSocket({
    admin: config.admin,
    authenticate,
    actors: () => actors,
    audit,
    conversationExists: (id) => store.conversationExists(id),
    statechart: conversationStatechart,
    logger,
    ...(limits ? { limits } : {}),
  });
  const actors = new LiveActors({ journal, sink: socket, ...(forwarder ? { forward: forwarder.forward } : {}) });
  let closing: Promise<void> | undefined;
  return {
    observe: actors.observe,
    lifecycle: actors.lifecycle,
    routes: inspectorRoutes({ admin: config.admin, authenticate, store, journal, audit }),
    sockets: { [INSPECTOR_SOCKET_PATH]: socket },
    close() {
      closing ??= (async () => {
        socket.shutdown();
        forwarder?.close();
        await journal.close();
      })();
      return closing;
    },
  };
}
