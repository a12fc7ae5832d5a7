import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditRow } from '../audit/store.ts';
import { DEFAULT_SWEEP, sweepExpired } from '../oidc/janitor.ts';
import { retiredKeyPublishSeconds, retireKey, rotateKeys } from '../oidc/keys.ts';
import type { CliContext } from './context.ts';
import { CommandError, type Io, parse, print, required, table, UsageError, unknownCommand } from './output.ts';

export const KEYS_HELP = `Usage: latchkey keys <command> [options]

Signing keys move next -> active -> retired. A next key is published in /jwks before it signs;
a retired key stays published until the tokens it signed have expired. Running servers pick up
changes at once (within KEY_RELOAD_INTERVAL_MS at worst) and also rotate on their own every
KEY_ROTATION_DAYS (30).

Commands:
  list          List keys and their states
  rotate        Activate the next key of each algorithm, retire the active one, make a new next key
  retire <kid>  Retire one key now (it stays published for the longest token lifetime)

Options:
  --json        Machine-readable output
`;

export const JANITOR_HELP = `Usage: latchkey janitor [--batch-size N] [--limit N] [--json]

Deletes expired codes, tokens, sessions and interactions in batches (one sweep), and mails sent
more than 7 days ago or failed more than 30 days ago. Servers also
sweep on their own every JANITOR_INTERVAL seconds.
`;

export const AUDIT_HELP = `Usage: latchkey audit tail [--limit N] [--follow] [--json]

Shows the latest audit events (sign-ins, lockouts, consents, client/user/key changes);
--follow keeps printing new ones until interrupted.
`;

export async function keysCommand(ctx: CliContext, args: string[], io: Io): Promise<void> {
  const [command, ...rest] = args;
  const { values, positionals } = parse(rest, {});
  const json = values.json;
  const publishSeconds = async () =>
    retiredKeyPublishSeconds(
      ctx.config.ttl,
      (await ctx.apis.store.list()).map((api) => api.access_token_ttl),
    );
  switch (command) {
    case 'list': {
      const rows = (await ctx.keys.listAll()).map((key) => ({
        kid: key.kid,
        alg: key.alg,
        state: key.state,
        created_at: key.created_at,
        activated_at: key.activated_at,
        retired_at: key.retired_at,
        published_until: key.state === 'retired' ? key.unpublish_after : null,
      }));
      print(io, json, rows, () =>
        table(
          rows.map((row) => ({
            kid: row.kid,
            alg: row.alg,
            state: row.state,
            created: row.created_at,
            published_until: row.published_until,
          })),
        ),
      );
      return;
    }
    case 'rotate': {
      const rotated = await rotateKeys(ctx.database.pool, ctx.box, {
        publishRetiredSeconds: await publishSeconds(),
        cookieGraceSeconds: ctx.config.ttl.session,
      });
      await ctx.audit.record({ event: 'key.rotated', details: { rotated } });
      print(io, json, { rotated }, () =>
        rotated.map((r) => `${r.alg}: ${r.activated} is now active; next is ${r.next}`).join('\n'),
      );
      return;
    }
    case 'retire': {
      const kid = required(positionals[0], 'kid');
      const result = await retireKey(ctx.database.pool, ctx.box, kid, {
        publishRetiredSeconds: await publishSeconds(),
        cookieGraceSeconds: ctx.config.ttl.session,
      });
      if (!result.ok) {
        if (result.reason === 'only_signing_key')
          throw new CommandError(`${kid} is the only ${result.alg} key able to sign: run keys rotate instead`);
        throw new CommandError(result.reason === 'not_found' ? `no key ${kid}` : `${kid} is already retired`);
      }
      await ctx.audit.record({ event: 'key.retired', details: { kid } });
      print(io, json, { retired: kid }, () => `retired key ${kid}`);
      return;
    }
    default:
      throw unknownCommand('keys', command);
  }
}

export async function migrateCommand(ctx: CliContext, args: string[], io: Io): Promise<void> {
  const { values } = parse(args, {});
  // Opening the CLI's context has migrated (as it does for every command): report what that applied.
  const applied = ctx.migrated;
  print(io, values.json, { status: 'up to date', applied }, () =>
    applied.length ? `applied ${applied.join(', ')}` : 'database is up to date',
  );
}

export async function janitorCommand(ctx: CliContext, args: string[], io: Io): Promise<void> {
  const { values } = parse(args, { 'batch-size': { type: 'string' }, limit: { type: 'string' } });
  const batchSize = values['batch-size'] === undefined ? DEFAULT_SWEEP.batchSize : Number(values['batch-size']);
  const limit = values.limit === undefined ? DEFAULT_SWEEP.limit : Number(values.limit);
  if (!(batchSize > 0) || !(limit > 0)) throw new UsageError('--batch-size and --limit must be positive numbers');
  const removed = await sweepExpired(ctx.database.pool, ctx.log, { ...DEFAULT_SWEEP, batchSize, limit });
  const retained = await ctx.sweepRetained(batchSize);
  print(
    io,
    values.json,
    {
      removed: removed ?? 0,
      skipped: removed === undefined,
      mails_removed: retained.mails,
      links_removed: retained.links,
      challenges_removed: retained.challenges,
    },
    () =>
      `${removed === undefined ? 'another node is sweeping; skipped' : `removed ${removed} expired row(s)`}; ` +
      `removed ${retained.mails} old mail(s), ${retained.links} old link(s), ` +
      `${retained.challenges} expired passkey challenge(s)`,
  );
}

export async function auditCommand(ctx: CliContext, args: string[], io: Io, signal?: AbortSignal): Promise<void> {
  const [command, ...rest] = args;
  if (command !== 'tail') throw unknownCommand('audit', command);
  const { values } = parse(rest, { follow: { type: 'boolean' }, limit: { type: 'string' } });
  const limit = Number(values.limit ?? 50);
  if (!(limit > 0)) throw new UsageError('--limit must be a positive number');
  const show = (rows: AuditRow[]) => {
    for (const row of rows) {
      io.stdout(
        values.json
          ? `${JSON.stringify(row)}\n`
          : `${row.at.toISOString()}  ${row.event.padEnd(20)}  ${row.account_id ?? '-'}  ${row.client_id ?? '-'}  ${JSON.stringify(row.details)}\n`,
      );
    }
  };
  const rows = await ctx.audit.latest(limit);
  show(rows);
  let last = rows.at(-1)?.id ?? 0;
  while (values.follow && !signal?.aborted) {
    await sleep(1000, undefined, { signal }).catch(() => undefined);
    const next = await ctx.audit.since(last);
    show(next);
    last = next.at(-1)?.id ?? last;
  }
}
