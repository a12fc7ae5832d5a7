import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino replaces with "[redacted]" wherever they appear: bearer values, secrets and
 * anything that identifies a person. Our own log calls never pass them; this is the net below.
 */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.client_secret',
  '*.code',
  '*.code_verifier',
  '*.refresh_token',
  '*.access_token',
  '*.id_token',
  '*.token',
  '*.email',
  '*.secret',
  '*.secretKey',
  '*.databaseUrl',
  'config.cookieKeys',
];

/**
 * Log lines buffered at most (bytes) while the output is slower than the server: past it, lines are
 * dropped rather than holding the process's memory hostage to a stalled pipe. 16 MiB is tens of
 * thousands of request lines.
 */
const ASYNC_BUFFER_BYTES = 16 * 1024 * 1024;
/**
 * Lines are written once this many bytes wait (a few dozen request lines), or at the latest after
 * ASYNC_FLUSH_MS: under load one write carries many lines instead of one each, and a quiet server's
 * line still appears within a quarter of a second.
 */
const ASYNC_BATCH_BYTES = 4096;
const ASYNC_FLUSH_MS = 250;

export interface LoggerOptions {
  level: string;
  pretty?: boolean;
  stderr?: boolean;
  /**
   * Write without blocking the event loop (the server: main.ts): lines are queued and written by
   * the thread pool, several per write under load, so a request never waits on stdout. The queue
   * is bounded (ASYNC_BUFFER_BYTES) and written out synchronously when the process exits, by
   * process.exit, a signal handled by main.ts, or an uncaught exception (pino registers that).
   * Off (the CLI, tests in one process): each line is written before the call returns.
   */
  async?: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    base: undefined,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.pretty) {
    return pino({
      ...base,
      transport: {
        target: 'pino-pretty',
        options: { colorize: true, translateTime: 'SYS:HH:MM:ss', destination: options.stderr ? 2 : 1 },
      },
    });
  }
  const fd = options.stderr ? 2 : 1;
  return pino(
    base,
    options.async
      ? pino.destination({
          fd,
          sync: false,
          minLength: ASYNC_BATCH_BYTES,
          periodicFlush: ASYNC_FLUSH_MS,
          maxLength: ASYNC_BUFFER_BYTES,
        })
      : pino.destination({ fd, sync: true }),
  );
}

/**
 * A logger for records that carry no secret by construction (the request line: method, path
 * without its query, status, duration): the same output, without walking every record for
 * redacted paths.
 */
export function unredacted(log: Logger): Logger {
  return log.child({}, { redact: [] });
}
