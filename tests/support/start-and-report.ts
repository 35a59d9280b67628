import { TestDovecot } from './dovecot.js';
import { TestRedis } from './redis-launcher.js';

/**
 * Started by `tests/test-servers-outlive.test.ts` and then killed with SIGKILL: starts a test Dovecot and a test Redis
 * and prints their server pids, so the test can check that they go once this process is gone.
 */
const dovecot = await TestDovecot.start({ users: { 'x@example.org': 'pw' } });
const redis = await TestRedis.start();
process.stdout.write(`${JSON.stringify({ dovecot: dovecot.pid, redis: redis.pid })}\n`);
setInterval(() => undefined, 60_000);
