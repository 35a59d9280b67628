import type { Migration, MigrationProvider } from 'kysely';
import { conversations } from './0001-conversations.js';
import { summaries } from './0002-summaries.js';
import { inspector } from './0003-inspector.js';
import { toolDecisions } from './0004-tool-decisions.js';
import { healthProbe } from './0005-health-probe.js';
import { contextSummaries } from './0006-context-summaries.js';
import { triage } from './0007-triage.js';

/** Migrations are imported, not read from a folder, so they work the same under tsx, a bundle or a compiled build. */
const MIGRATIONS: Record<string, Migration> = {
  '0001-conversations': conversations,
  '0002-summaries': summaries,
  '0003-inspector': inspector,
  '0004-tool-decisions': toolDecisions,
  '0005-health-probe': healthProbe,
  '0006-context-summaries': contextSummaries,
  '0007-triage': triage,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
