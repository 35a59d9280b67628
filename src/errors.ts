/**
 * Every `code` a client can see in an `error` message. The README's protocol section lists them; keep both in step.
 */
export const ErrorCode = {
  InvalidJson: 'invalid_json',
  InvalidMessage: 'invalid_message',
  UnknownType: 'unknown_type',
  Unauthenticated: 'unauthenticated',
  AuthFailed: 'auth_failed',
  /** Signed in, but the token lacks the role this needs (e.g. `admin`). */
  Forbidden: 'forbidden',
  /** Too many messages or connections in the window; `retry_after_ms` says when to try again. */
  RateLimited: 'rate_limited',
  /** This user (or the node) already has the most sockets allowed. */
  TooManyConnections: 'too_many_connections',
  MessageTooLong: 'message_too_long',
  Busy: 'busy',
  NotFound: 'not_found',
  NotAwaitingApproval: 'not_awaiting_approval',
  UnknownCall: 'unknown_call',
  LlmUnavailable: 'llm_unavailable',
  ModelNotFound: 'model_not_found',
  LlmError: 'llm_error',
  ToolError: 'tool_error',
  MaxToolSteps: 'max_tool_steps',
  StorageError: 'storage_error',
  /** The node answering died mid-answer: what it streamed was not saved. */
  Interrupted: 'interrupted',
  Internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class: an error that knows which wire code it maps to. */
export class RuntimeError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export class ConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/** The LLM provider could not be reached, or does not have the model. The message says what to do. */
export class LlmUnavailableError extends RuntimeError {
  readonly baseUrl: string;
  constructor(code: typeof ErrorCode.LlmUnavailable | typeof ErrorCode.ModelNotFound, message: string, baseUrl: string, options?: ErrorOptions) {
    super(code, message, options);
    this.baseUrl = baseUrl;
  }
}

/** The provider refused or failed a request. `status` is its HTTP status when it answered with one. */
export class LlmRequestError extends RuntimeError {
  readonly status: number | undefined;
  /** The provider's `Retry-After` (429, 503), for whoever retries or falls back; absent when it sent none. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, status: number | undefined, options?: ErrorOptions & { retryAfterMs?: number }) {
    super(ErrorCode.LlmError, message, options);
    this.status = status;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** A rate limit was hit; nothing was done, and the same request succeeds after `retryAfterMs`. */
export class RateLimitedError extends RuntimeError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(ErrorCode.RateLimited, message);
  }
}

export class StorageError extends RuntimeError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.StorageError, message, options);
  }
}

/** Why the database refused a write, as far as its error tells (see `storage/storage-fault.ts`). */
export const StorageFault = {
  DiskFull: 'disk_full',
  ReadOnly: 'read_only',
  IoError: 'io_error',
  /** Locked by another process past the busy timeout. */
  Busy: 'busy',
  /** The connection failed or the server is going away (Postgres). */
  Unreachable: 'unreachable',
  /** Anything else (a constraint, a bug): the same write would be refused again. */
  Other: 'other',
} as const;
export type StorageFault = (typeof StorageFault)[keyof typeof StorageFault];

/**
 * A write the database refused. The message starts with the cause in words ("disk full: …"); `cause` is the driver's
 * own error, kept for the logs.
 */
export class StorageWriteError extends StorageError {
  readonly fault: StorageFault;
  constructor(fault: StorageFault, message: string, options?: ErrorOptions) {
    super(message, options);
    this.fault = fault;
  }

  /** The same write may succeed later (space freed, the disk writable again, the server back). */
  get passes(): boolean {
    return this.fault !== StorageFault.Other;
  }
}

/** An HTTP route's answer other than success: the edge turns it into `status` with `{status:"error", message}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'HttpError';
  }
}

/** Turns anything thrown into a message a user can read, without stack traces. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
