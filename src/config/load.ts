import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { ConfigSchema, type Config } from './schema.js';

export interface LoadConfigOptions {
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

type RawSection = Record<string, unknown>;
type RawConfig = Record<string, unknown>;

/** Env variables that override a config key, as `[variable, section, key]`. `PORT` is handled apart (it edits `listen_addr`). */
export const ENV_OVERRIDES = [
  ['OLLAMA_BASE_URL', 'llm', 'base_url'],
  ['OLLAMA_MODEL', 'llm', 'model'],
  ['MCP_MAIL_SERVER_URL', 'mcp', 'mail_server_url'],
  ['LISTEN_ADDR', 'server', 'listen_addr'],
  ['LOG_LEVEL', 'log', 'level'],
  ['AI_RUNTIME_DB_PATH', 'summarization', 'db_path'],
  ['DATABASE_URL', 'storage', 'database_url'],
  ['MAILDIR_ROOT', 'mail', 'maildir_root'],
  ['MAIL_AUTH_TOKEN', 'mail', 'auth_token'],
  ['MAIL_SECRET_KEY', 'mail', 'secret_key'],
  ['WEBHOOK_SECRET', 'webhooks', 'secret'],
  ['MAIL_RUNTIME_WEBHOOK_URL', 'mail', 'runtime_webhook_url'],
  ['REDIS_URL', 'redis', 'url'],
  ['ADMIN_TOKEN', 'admin', 'token'],
  ['JWT_SECRET', 'auth', 'jwt_secret'],
  ['JWKS_URL', 'auth', 'jwks_url'],
  ['JWT_ISSUER', 'auth', 'issuer'],
  ['JWT_AUDIENCE', 'auth', 'audience'],
  ['METRICS_TOKEN', 'server', 'metrics_token'],
  ['WORKER_METRICS_ADDR', 'summarization', 'worker_metrics_addr'],
  ['TLS_CERT_FILE', 'server', 'tls_cert_file'],
  ['TLS_KEY_FILE', 'server', 'tls_key_file'],
] as const;

/**
 * Variables that hold a secret or switch a check on. Set but empty is how a failed secret injection looks
 * (`JWT_SECRET=""` from an unset CI variable), and skipping it would quietly fall back to something weaker: dev-mode
 * sign-in, no issuer check, open metrics, plain HTTP. So it is an error naming the variable. The other variables only
 * choose between safe alternatives, and an empty one still means "not set".
 */
export const MUST_NOT_BE_EMPTY: ReadonlySet<string> = new Set([
  'JWT_SECRET',
  'JWKS_URL',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'ADMIN_TOKEN',
  'WEBHOOK_SECRET',
  'METRICS_TOKEN',
  'MAIL_AUTH_TOKEN',
  'MAIL_SECRET_KEY',
  'TLS_CERT_FILE',
  'TLS_KEY_FILE',
]);

/** Where `PORT` goes when neither the file nor `LISTEN_ADDR` names a host: the schema's loopback default. */
const DEFAULT_LISTEN_HOST = '127.0.0.1';

/** `--config <path>` / `--config=<path>`, then `AI_RUNTIME_CONFIG`, then `./config.toml` when it exists. */
export function resolveConfigPath({ argv = process.argv.slice(2), env = process.env, cwd = process.cwd() }: LoadConfigOptions): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--config') {
      const value = argv[i + 1];
      if (!value) throw new ConfigError('--config needs a file path');
      return resolve(cwd, value);
    }
    if (arg?.startsWith('--config=')) return resolve(cwd, arg.slice('--config='.length));
  }
  if (env.AI_RUNTIME_CONFIG) return resolve(cwd, env.AI_RUNTIME_CONFIG);
  const local = resolve(cwd, 'config.toml');
  return existsSync(local) ? local : undefined;
}

function readToml(path: string): RawConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read config file ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    return parseToml(text) as RawConfig;
  } catch (cause) {
    const detail = cause instanceof TomlError ? cause.message : String(cause);
    throw new ConfigError(`${path} is not valid TOML: ${detail}`, { cause });
  }
}

function section(raw: RawConfig, name: string): RawSection {
  const existing = raw[name];
  if (existing !== undefined && (typeof existing !== 'object' || existing === null || Array.isArray(existing))) {
    // Leave it as is: the schema reports "[name] must be a table" with the key's name.
    return {};
  }
  const created = (existing as RawSection | undefined) ?? {};
  raw[name] = created;
  return created;
}

function applyEnv(raw: RawConfig, env: NodeJS.ProcessEnv): void {
  for (const [variable, sectionName, key] of ENV_OVERRIDES) {
    const value = env[variable];
    if (value === '' && MUST_NOT_BE_EMPTY.has(variable)) {
      throw new ConfigError(`${variable} is set but empty: unset it, or give it a value (an empty ${variable} is usually a secret that failed to load, and never means "off").`);
    }
    if (value !== undefined && value !== '') section(raw, sectionName)[key] = value;
  }
  if (env.PORT) {
    const server = section(raw, 'server');
    const port = Number(env.PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`PORT must be a port number, got "${env.PORT}"`);
    const current = typeof server.listen_addr === 'string' ? server.listen_addr : `${DEFAULT_LISTEN_HOST}:${port}`;
    server.listen_addr = `${current.slice(0, current.lastIndexOf(':'))}:${port}`;
  }
}

function describeIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k].join('.')) : [issue.path.join('.')];
    return `  ${keys.join(', ') || '(root)'}: ${issue.message}`;
  });
  return `invalid configuration (${source}):\n${lines.join('\n')}`;
}

/** Reads the optional TOML file, applies env overrides and validates everything; throws ConfigError naming each bad key. */
export function loadConfig(options: LoadConfigOptions = {}): { config: Config; path: string | undefined } {
  const env = options.env ?? process.env;
  const path = resolveConfigPath(options);
  const raw = path ? readToml(path) : {};
  applyEnv(raw, env);
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, path ?? 'defaults and environment'));
  return { config: parsed.data, path };
}

/** Parses an in-memory config (tests, embedding) with the same schema and messages as a file. */
export function parseConfig(raw: unknown): Config {
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, 'inline'));
  return parsed.data;
}

/** For the entry points (`npm start`, `mail-server`, `worker`): the config, or a message naming the bad key and exit code 2. */
export function loadConfigOrExit(program: string): { config: Config; path: string | undefined } {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${program}: ${error.message}\n`);
    process.exit(2);
  }
}
