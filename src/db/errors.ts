/**
 * Tells an outage apart from a bug: errors that mean "PostgreSQL cannot be reached right now"
 * become 503 temporarily_unavailable (the client may retry) rather than 500 server_error.
 */

/** SQLSTATEs of a database that is going away, restarting or full (PostgreSQL appendix A). */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown: the server is stopping
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or in recovery
  '53300', // too_many_connections
  '57014', // query_canceled: statement_timeout or a cancel from an overloaded server
]);

/** Socket errors of a connection that could not be made or was cut. */
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** node-postgres reports pool and connection failures by message only. */
const UNAVAILABLE_MESSAGES = [
  'timeout exceeded when trying to connect',
  'connection terminated',
  'connection timeout',
  'cannot use a pool after calling end on the pool',
  'client has encountered a connection error and is not queryable',
  'client was closed and is not queryable',
];

/** Whether err (or its cause, or one of an AggregateError's errors) says the database is unreachable. */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 5) return false;
  const { code, message, cause, errors } = err as {
    code?: unknown;
    message?: unknown;
    cause?: unknown;
    errors?: unknown;
  };
  if (typeof code === 'string') {
    // Class 08 is "connection exception".
    if (code.startsWith('08') && code.length === 5) return true;
    if (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code)) return true;
  }
  if (typeof message === 'string') {
    const lower = message.toLowerCase();
    if (UNAVAILABLE_MESSAGES.some((known) => lower.includes(known))) return true;
  }
  if (Array.isArray(errors) && errors.some((inner) => isDatabaseUnavailable(inner, depth + 1))) return true;
  return isDatabaseUnavailable(cause, depth + 1);
}

/**
 * PostgreSQL refuses some text a client can send: a NUL character (U+0000) in a text or jsonb
 * value, or bytes that are not UTF-8. That is the request's fault, so it is a 400, not a 500.
 */
export function isUnstorableInput(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 5) return false;
  const { code, cause } = err as { code?: unknown; cause?: unknown };
  // 22021 character_not_in_repertoire, 22P05 untranslatable_character.
  if (code === '22021' || code === '22P05') return true;
  return isUnstorableInput(cause, depth + 1);
}

export const UNSTORABLE_DESCRIPTION = 'The request contains characters that cannot be processed.';
