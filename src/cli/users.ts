import type { AccountRow } from '../accounts/store.ts';
import type { FactorSummary } from '../mfa/second-factors.ts';
import type { CliContext } from './context.ts';
import {
  CommandError,
  found,
  type Io,
  parse,
  print,
  readPassword,
  required,
  UsageError,
  unknownCommand,
} from './output.ts';

export const USERS_HELP = `Usage: latchkey users <command> [options]

Each <user> is an account id or an email address.

Commands:
  create --email E --name N --password-stdin [--email-verified]
                       Create an account; the password is read from stdin (one trailing newline removed)
  invite --email E --name N [--lang en|fr]
                       Create an account without a password and mail the person a link (valid
                       INVITE_TTL, 7 days by default) to choose one; following it verifies the address.
                       Again for an account that never signed in: a new link, the earlier ones void
  list                 List accounts
  show <user>          Show one account
  update <user> [--email E] [--name N] [--given-name G] [--family-name F] [--email-verified | --no-email-verified]
  disable <user>       Refuse sign-in and token refresh for the account
  enable <user>        Allow it again
  unlock <user>        Clear a lockout after failed sign-ins
  set-password <user> --password-stdin [--keep-sessions]
                       Set a new password and clear any lockout; also ends the user's sessions and
                       revokes their grants with every token, unless --keep-sessions
  delete <user>        Delete the account, its sessions and grants
  grants <user>        Apps the user has authorized
  revoke-grants <user> Sign the user out of every app (sessions, grants and their tokens)
  reset-mfa <user> [--lang en|fr]
                       Remove every second factor (authenticator app, passkeys, recovery codes);
                       recorded in the audit log, and the person is mailed

Options:
  --json               Machine-readable output
`;

const USER_OPTIONS = {
  email: { type: 'string' },
  name: { type: 'string' },
  'given-name': { type: 'string' },
  'family-name': { type: 'string' },
  'password-stdin': { type: 'boolean' },
  'email-verified': { type: 'boolean' },
  'no-email-verified': { type: 'boolean' },
  'keep-sessions': { type: 'boolean' },
  lang: { type: 'string' },
} as const;

/** The kinds of second factor an account has, never a secret: `users show`. */
function factorsView(summary: FactorSummary): string[] {
  return [
    ...(summary.totp ? ['totp'] : []),
    ...(summary.passkeys > 0 ? [`webauthn (${summary.passkeys})`] : []),
    ...(summary.recoveryCodes > 0 ? [`recovery codes (${summary.recoveryCodes} unused)`] : []),
  ];
}

function userView(row: AccountRow) {
  const locked = row.locked_until !== null && row.locked_until > new Date();
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    email_verified: row.email_verified,
    disabled: row.disabled,
    locked_until: locked ? row.locked_until : null,
    last_login_at: row.last_login_at,
    created_at: row.created_at,
  };
}

const REASONS: Record<string, string> = {
  email_taken: 'an account with this email already exists',
  invalid_email: 'email is not a valid address',
  password_too_long: 'password must be at most 1024 characters',
  password_common: 'password is one of the most common passwords, which are guessed first; choose another',
  not_found: 'no such user',
};

/** Why the CLI refuses something, in words; the minimum length is the configured one. */
function reason(ctx: CliContext, code: string): string {
  if (code === 'password_too_short')
    return `password must be at least ${ctx.accounts.passwordRules.minLength} characters`;
  return REASONS[code] ?? code;
}

async function findUser(ctx: CliContext, ref: string | undefined): Promise<AccountRow> {
  const key = required(ref, 'user id or email');
  return found(await ctx.accounts.find(key), `user ${key}`);
}

export async function usersCommand(ctx: CliContext, args: string[], io: Io): Promise<void> {
  const [command, ...rest] = args;
  const { values, positionals } = parse(rest, USER_OPTIONS);
  const json = values.json;
  const store = ctx.accounts.store;
  switch (command) {
    case 'create': {
      if (!values['password-stdin']) {
        throw new UsageError(
          '--password-stdin is required (the password is never taken from the command line); to let the person choose their own password, use `latchkey users invite --email E --name N`',
        );
      }
      const result = await ctx.accounts.create({
        email: required(values.email, '--email'),
        name: values.name ?? '',
        password: await readPassword(io),
        emailVerified: values['email-verified'],
        givenName: values['given-name'],
        familyName: values['family-name'],
      });
      if (!result.ok && result.reason === 'email_taken') {
        // Running a walk-through twice is the usual way here: say how to go on with that account.
        const email = values.email ?? '';
        throw new CommandError(
          `${REASONS.email_taken}: \`latchkey users show ${email}\` shows it, \`latchkey users set-password ${email} --password-stdin\` sets its password`,
        );
      }
      if (!result.ok) throw new CommandError(reason(ctx, result.reason));
      await ctx.audit.record({ event: 'user.created', accountId: result.account.id });
      print(
        io,
        json,
        { id: result.account.id, email: result.account.email },
        () => `created user ${result.account.id} (${result.account.email})`,
      );
      return;
    }
    case 'invite': {
      const lang = values.lang ?? 'en';
      if (lang !== 'en' && lang !== 'fr') throw new UsageError('--lang must be en or fr');
      const result = await ctx.selfService.invite({
        email: required(values.email, '--email'),
        name: values.name ?? '',
        locale: lang,
      });
      if (!result.ok)
        throw new CommandError(
          result.reason === 'email_taken'
            ? `${REASONS.email_taken} and has been used (signed in, or its password was set), so it is not invited again; its owner can reset the password from the sign-in page, or \`latchkey users set-password\` sets it`
            : reason(ctx, result.reason),
        );
      await ctx.audit.record({ event: 'user.invited', accountId: result.account.id });
      const { account, expiresAt, again } = result;
      print(
        io,
        json,
        { id: account.id, email: account.email, invitation_expires_at: expiresAt, invited_again: again },
        () =>
          again
            ? `invited user ${account.id} (${account.email}) again: a new link, which works until ${expiresAt.toISOString()}; earlier links no longer work`
            : `invited user ${account.id} (${account.email}); the link works until ${expiresAt.toISOString()}`,
      );
      return;
    }
    case 'list': {
      const rows = await store.list(10_000);
      print(io, json, rows.map(userView), () =>
        rows.length === 0
          ? '(no users)'
          : rows.map((row) => `${row.id}  ${row.email}${row.disabled ? '  [disabled]' : ''}`).join('\n'),
      );
      return;
    }
    case 'show': {
      const row = await findUser(ctx, positionals[0]);
      const [factors, invitationExpiresAt] = await Promise.all([
        ctx.secondFactors.summary(row.id),
        ctx.selfService.invitationExpiresAt(row.id),
      ]);
      print(io, json, {
        ...userView(row),
        factors: factorsView(factors),
        invitation_expires_at: invitationExpiresAt ?? null,
      });
      return;
    }
    case 'reset-mfa': {
      const lang = values.lang ?? 'en';
      if (lang !== 'en' && lang !== 'fr') throw new UsageError('--lang must be en or fr');
      const row = await findUser(ctx, positionals[0]);
      const result = await ctx.secondFactors.reset(row.id, lang);
      if (!result) throw new CommandError(`no user ${positionals[0]}`);
      print(
        io,
        json,
        { id: row.id, removed: result.removed },
        () =>
          `removed the second factors of user ${row.id} (${result.removed.join(', ') || 'none'}); the person was mailed`,
      );
      return;
    }
    case 'update': {
      const row = await findUser(ctx, positionals[0]);
      const result = await ctx.accounts.update(row.id, {
        email: values.email,
        name: values.name,
        givenName: values['given-name'],
        familyName: values['family-name'],
        emailVerified: values['email-verified'] ? true : values['no-email-verified'] ? false : undefined,
      });
      if (!result.ok)
        throw new CommandError(
          result.reason === 'not_found' ? `no user ${positionals[0]}` : reason(ctx, result.reason),
        );
      await ctx.audit.record({ event: 'user.updated', accountId: row.id });
      print(io, json, userView(result.account));
      return;
    }
    case 'disable':
    case 'enable': {
      const row = await findUser(ctx, positionals[0]);
      await store.setDisabled(row.id, command === 'disable');
      await ctx.audit.record({ event: `user.${command}d`, accountId: row.id });
      print(io, json, { id: row.id, disabled: command === 'disable' }, () => `${command}d user ${row.id}`);
      return;
    }
    case 'unlock': {
      const row = await findUser(ctx, positionals[0]);
      await store.unlock(row.id);
      await ctx.audit.record({ event: 'user.unlocked', accountId: row.id });
      print(io, json, { id: row.id, locked: false }, () => `unlocked user ${row.id}`);
      return;
    }
    case 'set-password': {
      if (!values['password-stdin']) throw new UsageError('--password-stdin is required');
      const row = await findUser(ctx, positionals[0]);
      const result = await ctx.accounts.setPassword(row.id, await readPassword(io), {
        keepSessions: values['keep-sessions'],
      });
      if (!result.ok) throw new CommandError(reason(ctx, result.reason));
      await ctx.audit.record({
        event: 'user.password_set',
        accountId: row.id,
        details: { sessions_ended: result.signedOut, revoked_grants: result.revokedGrants },
      });
      print(
        io,
        json,
        {
          id: row.id,
          password: 'updated',
          locked: false,
          sessions_ended: result.signedOut,
          revoked_grants: result.revokedGrants,
        },
        () =>
          `password updated for user ${row.id}; lockout cleared; ${
            result.signedOut
              ? `sessions ended and ${result.revokedGrants} grant(s) revoked with their tokens`
              : 'sessions and tokens kept (--keep-sessions)'
          }`,
      );
      return;
    }
    case 'delete': {
      const row = await findUser(ctx, positionals[0]);
      if (!(await ctx.accounts.delete(row.id))) throw new CommandError(`no user ${positionals[0]}`);
      await ctx.audit.record({ event: 'user.deleted', accountId: row.id });
      print(io, json, { deleted: row.id }, () => `deleted user ${row.id}`);
      return;
    }
    case 'grants': {
      const row = await findUser(ctx, positionals[0]);
      const grants = await ctx.payloads.grantsOfAccount(row.id);
      print(io, json, grants);
      return;
    }
    case 'revoke-grants': {
      const row = await findUser(ctx, positionals[0]);
      const removed = await ctx.accounts.signOutEverywhere(row.id);
      if (removed === undefined) throw new CommandError(`no user ${positionals[0]}`);
      await ctx.audit.record({ event: 'user.grants_revoked', accountId: row.id, details: { grants: removed } });
      print(
        io,
        json,
        { id: row.id, revoked_grants: removed },
        () => `revoked ${removed} grant(s) of user ${row.id}; sessions ended`,
      );
      return;
    }
    default:
      throw unknownCommand('users', command);
  }
}
