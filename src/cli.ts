import { APIS_HELP, apisCommand } from './cli/apis.ts';
import { CLIENTS_HELP, clientsCommand } from './cli/clients.ts';
import type { CliContext } from './cli/context.ts';
import { MAIL_HELP, mailCommand } from './cli/mail.ts';
import {
  AUDIT_HELP,
  auditCommand,
  JANITOR_HELP,
  janitorCommand,
  KEYS_HELP,
  keysCommand,
  migrateCommand,
} from './cli/ops.ts';
import { CommandError, type Io, UsageError } from './cli/output.ts';
import { USERS_HELP, usersCommand } from './cli/users.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './observability/logger.ts';
import { openServices } from './services.ts';

const HELP = `Usage: latchkey <command> [options]

Latchkey: an OpenID Connect identity provider. Every command works with the server running or
not, on the embedded database (default) or on DATABASE_URL.

Commands:
  serve       Run the server (the same as npm start)
  migrate     Apply pending database migrations
  clients     Register and manage applications    (latchkey clients --help)
  users       Manage accounts                      (latchkey users --help)
  apis        Register APIs (resource servers)     (latchkey apis --help)
  keys        List, rotate and retire signing keys (latchkey keys --help)
  mail        Read the outbox, send pending mail   (latchkey mail --help)
  janitor     Delete expired tokens and sessions now
  audit tail  Show audit events

Options:
  --json      Machine-readable output (every command)
  -h, --help  Help for a command

Configuration comes from the environment; see README.md.
`;

const MIGRATE_HELP =
  'Usage: latchkey migrate [--json]\n\nApplies pending migrations from migrations/ (also done by serve).\n';
const SERVE_HELP =
  'Usage: latchkey serve\n\nRuns the server on PORT (default 3000). Configuration comes from the environment; see README.md.\n';

type Command = (ctx: CliContext, args: string[], io: Io) => Promise<void>;
const COMMANDS: Record<string, { help: string; run: Command }> = {
  clients: { help: CLIENTS_HELP, run: clientsCommand },
  users: { help: USERS_HELP, run: usersCommand },
  apis: { help: APIS_HELP, run: apisCommand },
  keys: { help: KEYS_HELP, run: keysCommand },
  migrate: { help: MIGRATE_HELP, run: migrateCommand },
  janitor: { help: JANITOR_HELP, run: janitorCommand },
  audit: { help: AUDIT_HELP, run: auditCommand },
  mail: { help: MAIL_HELP, run: mailCommand },
};

function processIo(): Io {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    async stdin() {
      if (process.stdin.isTTY) process.stderr.write('Password: ');
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/** Opens the database (migrating it first, as the server does) and the services a command works with. */
async function openCliContext(env: Record<string, string | undefined>): Promise<CliContext> {
  const config = loadConfig(env);
  // Logs go to stderr so --json output on stdout stays parseable; quiet unless asked.
  const log = createLogger({ level: env.LOG_LEVEL ?? 'warn', stderr: true });
  const { database, migrated, services } = await openServices(config, log, 'cli');
  return { config, log, database, migrated, ...services };
}

/** Runs one CLI invocation; returns the exit code (0 ok, 1 refused or failed, 2 usage). */
export async function main(
  argv: string[],
  env: Record<string, string | undefined>,
  io: Io = processIo(),
): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(HELP);
    return 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout('latchkey 0.1.0\n');
    return 0;
  }
  if (name === 'serve') {
    if (args.includes('--help') || args.includes('-h')) {
      io.stdout(SERVE_HELP);
      return 0;
    }
    // Loaded only here: the engine, Koa and the pages are not needed by the other commands.
    const { serve } = await import('./main.ts');
    await serve(env);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(`latchkey: unknown command ${name} (see latchkey --help)\n`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(command.help);
    return 0;
  }
  if (args.length === 0 && !['migrate', 'janitor'].includes(name)) {
    io.stderr(`latchkey ${name}: missing command (see latchkey ${name} --help)\n`);
    return 2;
  }
  let ctx: CliContext | undefined;
  try {
    ctx = await openCliContext(env);
    await command.run(ctx, args, io);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`latchkey ${name}: ${err.message} (see latchkey ${name} --help)\n`);
      return 2;
    }
    if (err instanceof CommandError || err instanceof ConfigError) {
      io.stderr(`latchkey ${name}: ${err.message.replace(/\n/g, '; ')}\n`);
      return 1;
    }
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    io.stderr(`latchkey ${name}: ${message}\n`);
    if (env.LOG_LEVEL === 'debug') io.stderr(`${(err as Error).stack ?? ''}\n`);
    return 1;
  } finally {
    await ctx?.database.close().catch(() => undefined);
  }
}
