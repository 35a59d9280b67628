import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    setupFiles: ['tests/support/isolate-database-url.ts'],
    // uWebSockets.js and better-sqlite3 are native addons: separate processes, not worker threads.
    pool: 'forks',
    // Two files at a time on this 2-core machine: most tests wait on sockets, child processes and timers, so the
    // suite takes about half as long, and every test must hold under the load of another file running beside it.
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
