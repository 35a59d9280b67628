import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A port that was free a moment ago: the embedded mail server and Redis need fixed ones the runtime can be told about. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * `config.toml` for `npm start` with everything embedded (Redis, the mail server) on free ports and its data in
 * `dir`; `extra` lines are appended (e.g. an `[mcp]` section). Returns the file's path and the SMTP port.
 */
export async function writeEmbeddedConfig(dir: string, ollamaUrl: string, extra: readonly string[] = []): Promise<{ path: string; smtpPort: number }> {
  const [mcpPort, smtpPort, redisPort] = [await freePort(), await freePort(), await freePort()];
  const path = join(dir, 'config.toml');
  writeFileSync(
    path,
    [
      '[llm]',
      `base_url = "${ollamaUrl}"`,
      '[server]',
      'listen_addr = "127.0.0.1:0"',
      '[summarization]',
      `db_path = "${join(dir, 'runtime.db')}"`,
      '[mail]',
      `maildir_root = "${join(dir, 'maildir')}"`,
      `mcp_listen_addr = "127.0.0.1:${mcpPort}"`,
      `smtp_listen_addr = "127.0.0.1:${smtpPort}"`,
      '[redis]',
      `embedded_port = ${redisPort}`,
      `data_dir = "${join(dir, 'redis')}"`,
      ...extra,
    ].join('\n'),
  );
  return { path, smtpPort };
}
