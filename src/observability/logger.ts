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

export function createLogger(options: { level: string; pretty?: boolean; stderr?: boolean }): Logger {
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
  return pino(base, pino.destination({ fd: options.stderr ? 2 : 1, sync: true }));
}
