import type { Config } from '../config/schema.js';
import { HttpError } from '../errors.js';
import { AdminVia, authorizeAdmin, createAdminAccess, type Authenticate } from '../server/auth.js';
import type { HttpRoute } from '../server/ws-server.js';
import { InvalidExportError, buildExport, parseExport } from './conversation-export.js';
import type { EventJournal } from './event-journal.js';
import type { InspectorStore } from './inspector-store.js';
import { replayConversation } from './replay.js';
import { RevealChannel, type RevealAudit } from './reveal-audit.js';

export interface InspectorRoutesDeps {
  admin: Config['admin'];
  /** Admin-role JWTs open the endpoints too when this verifies tokens; the `[admin] token` always does. */
  authenticate?: Authenticate;
  store: InspectorStore;
  journal: EventJournal;
  audit: RevealAudit;
}

const REVEALS_LISTED = 200;

function parseJsonBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new HttpError(400, `The body is not JSON: ${(error as Error).message}`);
  }
}

/** Export, replay and the reveal log: admin only. */
export function inspectorRoutes(deps: InspectorRoutesDeps): Record<string, HttpRoute> {
  const admin = createAdminAccess(deps.admin, deps.authenticate);
  return {
    /** The conversation's journal as JSON, redacted unless `?reveal=1` (which is logged like a socket reveal). */
    'GET /api/inspector/conversations/:id/export': async (request) => {
      const { operator, via } = await authorizeAdmin(admin, request.headers);
      const id = request.params[0] ?? '';
      if (!(await deps.store.conversationExists(id))) throw new HttpError(404, `No conversation "${id}".`);
      // Events of a running turn may still be on their way to storage.
      await deps.journal.flush();
      const records = await deps.store.readEvents(id);
      if (records.length === 0) throw new HttpError(404, `Conversation "${id}" has no recorded events (it has not run since the journal exists).`);
      const reveal = ['1', 'true'].includes(request.query.get('reveal') ?? '');
      // A JWT names the operator; the shared admin token leaves it to the caller's word.
      const named = via === AdminVia.Jwt ? operator : (request.headers['x-inspector-operator'] ?? operator);
      if (reveal) await deps.audit.record(named.slice(0, 100), id, RevealChannel.Export);
      return {
        status: 200,
        body: buildExport(id, records, reveal),
        headers: { 'Content-Disposition': `attachment; filename="conversation-${id.replace(/[^A-Za-z0-9_-]/g, '_')}.json"` },
      };
    },

    /** Body: an export. Answer: `{steps}`, the machine's state after each record, replayed with inert actors. */
    'POST /api/inspector/replay': async (request) => {
      await authorizeAdmin(admin, request.headers);
      let exported;
      try {
        exported = parseExport(parseJsonBody(request.body));
      } catch (error) {
        if (error instanceof InvalidExportError) throw new HttpError(400, error.message);
        throw error;
      }
      return { status: 200, body: { steps: replayConversation(exported) } };
    },

    'GET /api/inspector/reveals': async (request) => {
      await authorizeAdmin(admin, request.headers);
      const reveals = await deps.store.listReveals(REVEALS_LISTED);
      return { status: 200, body: { reveals: reveals.map((r) => ({ conversation_id: r.conversationId, operator: r.operator, via: r.via, at: r.at })) } };
    },
  };
}
