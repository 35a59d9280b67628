import { z } from 'zod';
import { hostHeader, httpUrl, listenAddr } from './field-schemas.js';
import { LlmConfigSchema, LlmProviderConfigSchema } from './llm-schema.js';
import { MailConfigSchema } from './mail-schema.js';
import { RateLimitsConfigSchema } from './rate-limits-schema.js';

export { DEFAULT_BASE_URLS, LlmConfigSchema, LlmProvider, LlmProviderConfigSchema, type LlmProviderConfig } from './llm-schema.js';
export { MailConfigSchema, MailRelaySchema } from './mail-schema.js';
export { RateLimitsConfigSchema } from './rate-limits-schema.js';

/**
 * The shape of `config.toml`. Section and key names follow the original service's config (llm, mcp, server,
 * summarization) so existing files keep working; everything past it is additive. Objects are strict so that a
 * misspelled key stops start-up instead of being silently ignored.
 */

const StdioServerSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-" only'),
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).optional(),
});

const HttpServerSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-" only'),
  /** The Streamable HTTP endpoint, e.g. http://localhost:8090/mcp */
  url: httpUrl,
  /** Sent as `Authorization: Bearer <token>`. */
  bearer_token: z.string().optional(),
});

export const McpServerConfigSchema = z.union([HttpServerSchema, StdioServerSchema]);
export type McpServerConfig = z.infer<typeof McpServerConfigSchema>;

export const ApprovalPolicy = {
  /** Ask the user before every call. */
  Required: 'required',
  /** Run without asking, even when the server marks the tool destructive. */
  Auto: 'auto',
} as const;
export type ApprovalPolicy = (typeof ApprovalPolicy)[keyof typeof ApprovalPolicy];

export const McpConfigSchema = z.strictObject({
  /**
   * The mail MCP server (seed key). A URL without a path gets `/mcp`; `""` disables it. Unset: the bundled mail server
   * at `[mail] mcp_listen_addr`. @default (the bundled mail server)
   */
  mail_server_url: z.union([httpUrl, z.literal('')]).optional(),
  /** Further MCP servers: `{ name, url }` for Streamable HTTP or `{ name, command, args }` for stdio. @default [] */
  servers: z.array(McpServerConfigSchema).default([]),
  /** Tool-call rounds per user message before the runtime stops the loop. @default 5 */
  max_tool_steps: z.int().positive().max(50).default(5),
  /** A tool call that takes longer fails with a timeout. @default 30000 */
  tool_timeout_ms: z.int().positive().default(30_000),
  /** Per-tool approval policy, overriding the server's `destructiveHint`. @default {} */
  approval: z.record(z.string(), z.enum([ApprovalPolicy.Required, ApprovalPolicy.Auto])).default({}),
  /** First reconnect delay for a server that is down; doubles up to `reconnect_max_ms`. @default 500 */
  reconnect_initial_ms: z.int().positive().default(500),
  /** @default 30000 */
  reconnect_max_ms: z.int().positive().default(30_000),
});

export const ServerConfigSchema = z.strictObject({
  /**
   * `host:port` for HTTP and WebSocket. Loopback by default: dev-mode sign-in must not reach the network, and the
   * runtime refuses to start with dev mode on any other address. @default "127.0.0.1:8888"
   */
  listen_addr: listenAddr.default('127.0.0.1:8888'),
  /** @default "/ws" */
  websocket_path: z.string().startsWith('/').default('/ws'),
  /** Frames larger than this close the socket (uWS `maxPayloadLength`). @default 65536 */
  max_payload_bytes: z.int().min(1024).default(64 * 1024),
  /** A chat message longer than this gets a `message_too_long` error. @default 16000 */
  max_message_chars: z.int().positive().default(16_000),
  /** Seconds without traffic before uWS closes a socket; it pings automatically before that. @default 120 */
  idle_timeout_s: z.int().min(8).default(120),
  /**
   * Browser origins allowed to open a WebSocket or call the HTTP API cross-origin (CORS), e.g.
   * `["https://mail.example.com"]`; `["*"]` allows any. The server's own origin and clients that send no `Origin`
   * (not browsers) are always allowed. @default []
   */
  allowed_origins: z.array(z.union([z.literal('*'), z.url({ protocol: /^https?$/, error: 'expected an origin such as https://app.example.com' })])).default([]),
  /**
   * Exact `Host` values the runtime answers besides its listen address and `localhost`/`127.0.0.1`/`[::1]` on its
   * port, e.g. `["chat.example.com", "devbox.lan:8888"]` (with the port unless 80/443). Any other `Host` gets 403
   * (DNS rebinding). Enforced on a loopback listen address, or wherever this is set; on a wildcard address with an
   * empty list any `Host` is answered. @default []
   */
  allowed_hosts: z.array(z.string().regex(hostHeader, 'expected host or host:port, e.g. chat.example.com or devbox.lan:8888')).default([]),
  /**
   * How many proxies (load balancers) in front of this node append to `X-Forwarded-For`. The client's IP (for per-IP
   * rate limits and logs) is then the entry that many places from the right; entries further left are the client's
   * own and ignored, so it cannot forge its address. `0`: the socket's peer. `true` means 1 and `false` 0, as in older
   * config files. @default 0
   */
  trust_proxy: z
    .union([z.boolean(), z.int().min(0).max(32)])
    .default(0)
    .transform((hops) => (typeof hops === 'boolean' ? Number(hops) : hops)),
  /** Open sockets on this node (chat and inspector), signed in or not; past it an upgrade gets 503. @default 10000 */
  max_connections: z.int().positive().default(10_000),
  /** Signed-in chat sockets of one user on this node; past it `auth` fails with `too_many_connections`. @default 20 */
  max_connections_per_user: z.int().positive().default(20),
  /**
   * Bytes a socket may have waiting to be sent. Past half of it chunks are coalesced; past all of it the socket is
   * closed with code 4008 and the client resumes. @default 4194304
   */
  max_backpressure_bytes: z.int().min(64 * 1024).default(4 * 1024 * 1024),
  /** On SIGTERM/SIGINT, answers in flight get this long to finish before they are cut, saved and their sockets closed with 1001. @default 20 */
  shutdown_grace_s: z.number().min(0).default(20),
  /** `GET /metrics` then needs `Authorization: Bearer <metrics_token>`; empty: open, like `/health`. @default "" */
  metrics_token: z.string().default(''),
  /** PEM certificate file: with `tls_key_file`, the server speaks HTTPS and WSS only. @default "" */
  tls_cert_file: z.string().default(''),
  /** PEM private key file for `tls_cert_file`. @default "" */
  tls_key_file: z.string().default(''),
  /** Passphrase of an encrypted `tls_key_file`. @default "" */
  tls_passphrase: z.string().default(''),
}).refine((server) => (server.tls_cert_file === '') === (server.tls_key_file === ''), {
  error: 'tls_cert_file and tls_key_file go together: set both or neither',
  path: ['tls_cert_file'],
});

export const ConversationConfigSchema = z.strictObject({
  /** An idle conversation actor is stopped after this many seconds and restored from storage on next use. @default 300 */
  idle_actor_ttl_s: z.int().positive().default(300),
  /** Streamed events kept per conversation for reconnecting clients. @default 2048 */
  replay_buffer_events: z.int().min(16).default(2048),
  /**
   * The same buffer bounded in characters of the serialized events (memory holds at most twice this in bytes), so an
   * answer streamed in large pieces keeps no more than this; the oldest go first. @default 1048576
   */
  replay_buffer_chars: z.int().min(4096).default(1_048_576),
  /**
   * With nodes sharing conversations: a node that dies while answering holds the conversation this long at most; the
   * node running a turn renews it every third of it. @default 15
   */
  lease_ttl_s: z.int().min(1).max(3600).default(15),
});

export const SummarizationConfigSchema = z.strictObject({
  /** The summaries pipeline (queue, worker, notifications, summary endpoints). @default true */
  enabled: z.boolean().default(true),
  /** The SQLite file for conversations and summaries (seed key and meaning). @default "data/ai-runtime.db" */
  db_path: z.string().min(1).default('data/ai-runtime.db'),
  /** Summarize mail announced on the webhook. Off: the webhook is accepted and ignored. @default true */
  auto_summarize: z.boolean().default(true),
  /** Run a summary worker inside the runtime; off for nodes that only serve sockets (`npm run worker` runs workers alone). @default true */
  worker: z.boolean().default(true),
  /** Model for summaries on the `[llm]` provider; defaults to `[llm] model`. */
  model: z.string().min(1).optional(),
  /**
   * `[summarization.llm]`: a provider of their own for summaries (same keys as `[llm]`), e.g. a small local model for
   * summaries and a hosted one for chat. Unset: the `[llm]` provider and its fallbacks.
   */
  llm: LlmProviderConfigSchema.optional(),
  /** Summaries computed at once per worker. @default 2 */
  concurrency: z.int().positive().default(2),
  /** At most this many summary LLM calls per `rate_limit_window_ms`, across all workers. @default 20 */
  rate_limit_max: z.int().positive().default(20),
  /** @default 1000 */
  rate_limit_window_ms: z.int().positive().default(1000),
  /** Tries per email before the job is left failed; with the backoff, about 8 minutes of Ollama outage. @default 10 */
  attempts: z.int().positive().default(10),
  /** First retry delay, doubled each time. @default 1000 */
  backoff_ms: z.int().positive().default(1000),
  /**
   * A job whose worker stopped answering (killed, frozen) runs again on another worker after about this long: the
   * job's lock lapses and the next stalled-job check finds it. @default 30
   */
  stalled_after_s: z.int().positive().default(30),
  /** `POST /api/generate-summary` answers 504 after this. @default 60000 */
  timeout_ms: z.int().positive().default(60_000),
  /**
   * Triage: a spam filter's score (`X-Spam-Score`, `X-Spam-Status: score=`, `X-Rspamd-Score`, `X-Spam-Level` stars) at
   * or over this makes a mail `spam` without asking the LLM. SpamAssassin's own default threshold. @default 5
   */
  spam_score_threshold: z.number().min(-1000).max(1000).default(5),
  /** Missed notifications replayed to a user when they sign in. @default 50 */
  replay_limit: z.int().positive().default(50),
  /**
   * Where `npm run worker` serves `GET /metrics` (behind `[server] metrics_token` when set) and `GET /health`; `""`
   * turns them off. Runtimes ignore it: theirs are on `[server] listen_addr`. @default "127.0.0.1:9465"
   */
  worker_metrics_addr: z.union([listenAddr, z.literal('')]).default('127.0.0.1:9465'),
});

export const StorageConfigSchema = z.strictObject({
  /**
   * A Postgres database (`postgres://user:password@host:5432/db`) for conversations, summaries and the inspector's
   * journal, shared by every node. Empty: the SQLite file at `[summarization] db_path`. @default ""
   */
  database_url: z.union([z.url({ protocol: /^postgres(ql)?$/, error: 'expected a postgres:// or postgresql:// URL' }), z.literal('')]).default(''),
  /** A conversation write the database refused (disk full, read-only, I/O) is retried after this, doubling. @default 1000 */
  write_retry_initial_ms: z.int().positive().default(1000),
  /** The longest wait between two retries of refused writes. @default 30000 */
  write_retry_max_ms: z.int().positive().default(30_000),
  /**
   * How often a small write (a row bigger than a page, written and deleted) checks that the database takes writes, for
   * `/health`; a refused probe also makes refused conversation writes retry at once once it passes. @default 10000
   */
  write_probe_interval_ms: z.int().positive().default(10_000),
  /** Refused conversation writes kept in memory for retry, per conversation, in bytes of JSON; past it a turn is lost. @default 1048576 */
  max_unsaved_bytes_per_conversation: z.int().positive().default(1_048_576),
  /** The same, across all conversations of this node. @default 33554432 */
  max_unsaved_bytes: z.int().positive().default(33_554_432),
}).refine((storage) => storage.write_retry_initial_ms <= storage.write_retry_max_ms, {
  error: 'write_retry_initial_ms must not exceed write_retry_max_ms',
  path: ['write_retry_initial_ms'],
});

export const RedisConfigSchema = z.strictObject({
  /** An external Redis (`redis://host:port/db`). Empty: `npm start` runs its own from `redis.conf`. @default "" */
  url: z.union([z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' }), z.literal('')]).default(''),
  /** The port of the Redis `npm start` runs (not 6379, so a system Redis is left alone). @default 6390 */
  embedded_port: z.int().min(1).max(65535).default(6390),
  /** Where that Redis keeps its AOF and RDB files. @default "data/redis" */
  data_dir: z.string().min(1).default('data/redis'),
  /** Key prefix for BullMQ and pub/sub, so several deployments can share one Redis. @default "ai-runtime" */
  prefix: z.string().regex(/^[A-Za-z0-9_-]+$/).default('ai-runtime'),
});

/** As long as `[auth] jwt_secret`: a shared bearer secret must resist guessing at network speed. */
export const MIN_ADMIN_TOKEN_CHARS = 32;

export const AdminConfigSchema = z.strictObject({
  /**
   * Bearer token for admin endpoints (failed jobs, inspector, `POST /api/generate-summary`); at least 32 characters,
   * so it cannot be guessed online. Empty: only admin-role JWTs open them. @default ""
   */
  token: z.union([z.string().min(MIN_ADMIN_TOKEN_CHARS, `token must be at least ${MIN_ADMIN_TOKEN_CHARS} characters`), z.literal('')]).default(''),
});

export const WebhooksConfigSchema = z.strictObject({
  /** HMAC-SHA256 secret shared by senders and the runtime. `npm start` generates one once when empty, kept in `webhook-secret` beside `summarization.db_path`. @default "" */
  secret: z.string().default(''),
  /** Seconds a signed timestamp stays valid (replay window). @default 300 */
  tolerance_s: z.int().positive().default(300),
});

export const AuthConfigSchema = z.strictObject({
  /**
   * The seed's email-only sign-in: anyone can claim any address, for local use only. Unset means off, except that
   * `npm start` turns it on (with a loud warning) when no JWT verification is configured either. Refused at start
   * unless `[server] listen_addr` is loopback (127.0.0.0/8, ::1, localhost). @default (off)
   */
  dev_mode: z.boolean().optional(),
  /** HS256 shared secret for user tokens (at least 32 bytes). @default "" */
  jwt_secret: z.union([z.string().min(32, 'jwt_secret must be at least 32 characters'), z.literal('')]).default(''),
  /** A JWKS URL for RS256/ES256 user tokens (keys fetched and cached, rotated by `kid`). @default "" */
  jwks_url: z.union([httpUrl, z.literal('')]).default(''),
  /** Required `iss` claim; empty: not checked. @default "" */
  issuer: z.string().default(''),
  /** Required `aud` claim; empty: not checked. @default "" */
  audience: z.string().default(''),
  /** The claim holding the user's email address. @default "email" */
  email_claim: z.string().min(1).default('email'),
  /** The claim holding the user's roles (an array, or one string); `admin` opens the inspector and failed jobs. @default "roles" */
  roles_claim: z.string().min(1).default('roles'),
  /** Leeway for `exp` and `nbf`, in seconds. @default 30 */
  clock_tolerance_s: z.int().min(0).default(30),
});

export const InspectorConfigSchema = z.strictObject({
  /**
   * Also forward every XState inspection event (content redacted) to a Stately inspector over WebSocket. The
   * `--inspect` flag and `AI_RUNTIME_INSPECT=1` turn it on too. @default false
   */
  stately: z.boolean().default(false),
  /** Where that Stately inspector listens (`createInspectorServer` from `@statelyai/inspect/server`). @default "ws://localhost:8080" */
  stately_url: z.url({ protocol: /^wss?$/, error: 'expected a ws:// or wss:// URL' }).default('ws://localhost:8080'),
});

export const LogConfigSchema = z.strictObject({
  /** @default "info" */
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export const ConfigSchema = z.strictObject({
  llm: LlmConfigSchema.prefault({}),
  mcp: McpConfigSchema.prefault({}),
  server: ServerConfigSchema.prefault({}),
  conversation: ConversationConfigSchema.prefault({}),
  summarization: SummarizationConfigSchema.prefault({}),
  storage: StorageConfigSchema.prefault({}),
  redis: RedisConfigSchema.prefault({}),
  admin: AdminConfigSchema.prefault({}),
  mail: MailConfigSchema.prefault({}),
  webhooks: WebhooksConfigSchema.prefault({}),
  auth: AuthConfigSchema.prefault({}),
  rate_limits: RateLimitsConfigSchema.prefault({}),
  inspector: InspectorConfigSchema.prefault({}),
  log: LogConfigSchema.prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
export type LlmConfig = Config['llm'];
export type McpConfig = Config['mcp'];
export type ServerConfig = Config['server'];
export type MailConfig = Config['mail'];
