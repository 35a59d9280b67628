import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedRedis } from '../src/embedded/redis-server.js';
import { createLogger } from '../src/logger.js';

describe('the bundled Redis', () => {
  const path = process.env.PATH;
  afterEach(() => {
    process.env.PATH = path;
  });

  it('says how to install redis-server when it is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-noredis-'));
    process.env.PATH = dir;
    const redis = new EmbeddedRedis({ confPath: 'redis.conf', port: 1, dataDir: join(dir, 'data'), logger: createLogger('silent'), restart: false });
    await expect(redis.start()).rejects.toThrow(/sudo apt install redis-server.*REDIS_URL/);
    rmSync(dir, { recursive: true, force: true });
  });
});
