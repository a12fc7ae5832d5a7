import { type ParseArgsConfig, parseArgs } from 'node:util';

/** A mistake in how a command was called: exit 2 with the message and a pointer to --help. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A refused request (unknown user, invalid redirect URI, ...): exit 1 with one line on stderr. */
export class CommandError extends Error {
  override name = 'CommandError';
}

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: () => Promise<string>;
}

const GLOBAL_OPTIONS = {
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

export function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Prints `value` as JSON with --json, else as aligned `key: value` lines or a table. */
export function print(io: Io, json: boolean, value: unknown, human?: () => string) {
  if (json) io.stdout(`${JSON.stringify(value, null, 2)}\n`);
  else io.stdout(`${human ? human() : describe(value)}\n`);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return table(value as Array<Record<string, unknown>>);
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    const width = Math.max(...entries.map(([key]) => key.length));
    return entries.map(([key, v]) => `${key.padEnd(width)}  ${format(v)}`).join('\n');
  }
  return String(value);
}

function format(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.join(' ');
  if (value === null || value === undefined) return '-';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function table(rows: Array<Record<string, unknown>>): string {
  if (rows.length === 0) return '(none)';
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((row) => columns.map((column) => format(row[column])));
  const widths = columns.map((column, i) => Math.max(column.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns), ...cells.map(line)].join('\n');
}

/** The password from stdin, with at most one trailing newline removed (so `echo pw |` works). */
export async function readPassword(io: Io): Promise<string> {
  const raw = await io.stdin();
  return raw.replace(/\r?\n$/, '');
}

/** What a command names by id, or a CommandError (`no client abc`) when there is no such thing. */
export function found<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new CommandError(`no ${what}`);
  return value;
}

/** The usage error for a missing or unknown subcommand of `group`. */
export function unknownCommand(group: string, command: string | undefined): UsageError {
  return new UsageError(command ? `unknown command: ${group} ${command}` : 'missing command');
}

export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}
