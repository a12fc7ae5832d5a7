import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../db/pool.ts';

/** What a one-time link is for (migrations/0010_account_tokens.sql). */
export type AccountTokenKind = 'reset' | 'verify' | 'invite' | 'email_change';

/** A used token: whose it was, and the address it carried (verify, email_change). */
export interface UsedToken {
  account_id: string;
  email: string | null;
}

/** The token as stored: its SHA-256, never the token itself. */
const tokenHash = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();
/** A new token: 256 bits from the CSPRNG, base64url (43 characters). */
const newToken = (): string => randomBytes(32).toString('base64url');
/** The shape of a token we issue; anything else is refused before the database is asked. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

// $5: bind the link to the current password (reset, invite): any later password change voids it.
const issueText = (condition: string) =>
  `insert into account_tokens (token_hash, kind, account_id, email, password_fingerprint, expires_at)
   select $1, $2, a.id, $4, case when $5 then sha256(convert_to(a.password_hash, 'UTF8')) end, now() + make_interval(secs => $6)
   from accounts a where a.id = $3 ${condition}
   returning expires_at`;
const issue = { name: 'account_tokens.issue', text: issueText('') };
/**
 * An invitation goes only to an account that awaits its first sign-in: nobody has set its password
 * (accepting an invitation does), it never signed in, nobody signed it up, it is not disabled.
 * Decided as the link is written, so an invitation accepted at the same moment is not followed by
 * a new link bound to the password just chosen.
 */
const issueInvitation = {
  name: 'account_tokens.issue_invitation',
  text: issueText(`and a.password_changed_at is null and a.last_login_at is null and a.signed_up_at is null
     and not a.disabled`),
};
/** A newer link voids the older ones of its kind (a newer reset request, a resent verification). */
const voidOlder = {
  name: 'account_tokens.void_older',
  text: `update account_tokens set used_at = now()
         where account_id = $1 and kind = $2 and used_at is null and token_hash <> $3`,
};
/**
 * Uses a token: one statement decides, so of two requests with the same link exactly one gets the
 * row. An expired token, a used one, one of another kind, one whose password binding no longer
 * matches (the password changed since) or whose address is no longer the account's (verify) is
 * refused the same way: no row.
 */
const use = {
  name: 'account_tokens.use',
  text: `update account_tokens t set used_at = now()
         from accounts a
         where t.token_hash = $1 and t.kind = $2 and t.used_at is null and t.expires_at > now() and a.id = t.account_id
           and (t.password_fingerprint is null or t.password_fingerprint = sha256(convert_to(a.password_hash, 'UTF8')))
           and (t.kind <> 'verify' or lower(t.email) = lower(a.email))
         returning t.account_id, t.email`,
};
/** Whether a token would be accepted now, without using it (to show the form it leads to). */
const peek = {
  name: 'account_tokens.peek',
  text: `select t.account_id, t.email from account_tokens t join accounts a on a.id = t.account_id
         where t.token_hash = $1 and t.kind = $2 and t.used_at is null and t.expires_at > now()
           and (t.password_fingerprint is null or t.password_fingerprint = sha256(convert_to(a.password_hash, 'UTF8')))
           and (t.kind <> 'verify' or lower(t.email) = lower(a.email))`,
};
/** When the account's usable links of a kind stop working (null: it has none). */
const pendingUntil = {
  name: 'account_tokens.pending_until',
  text: `select max(t.expires_at) as until from account_tokens t join accounts a on a.id = t.account_id
         where t.account_id = $1 and t.kind = $2 and t.used_at is null and t.expires_at > now()
           and (t.password_fingerprint is null or t.password_fingerprint = sha256(convert_to(a.password_hash, 'UTF8')))`,
};
/** The address of the account's newest usable link of a kind that carries one (a pending email change). */
const pendingEmail = {
  name: 'account_tokens.pending_email',
  text: `select t.email from account_tokens t join accounts a on a.id = t.account_id
         where t.account_id = $1 and t.kind = $2 and t.used_at is null and t.expires_at > now()
           and (t.password_fingerprint is null or t.password_fingerprint = sha256(convert_to(a.password_hash, 'UTF8')))
         order by t.created_at desc limit 1`,
};
const sweep = {
  name: 'account_tokens.sweep',
  text: `delete from account_tokens where token_hash in (
           select token_hash from account_tokens where expires_at < now() - interval '1 day' or used_at < now() - interval '1 day' limit $1)`,
};

/** The account_tokens table. Over a transaction's client, `issue` is part of that transaction. */
export function createAccountTokenStore(db: Queryable) {
  return {
    /**
     * Issues a token of `kind` for the account, voiding its older unused ones of that kind.
     * Undefined (and nothing voided) when there is no such account, or for an invitation when the
     * account no longer awaits its first sign-in.
     */
    async issue(input: {
      kind: AccountTokenKind;
      accountId: string;
      ttlSeconds: number;
      email?: string | undefined;
      bindPassword: boolean;
    }): Promise<{ token: string; expiresAt: Date } | undefined> {
      const token = newToken();
      const hash = tokenHash(token);
      const { rows } = await db.query<{ expires_at: Date }>({
        ...(input.kind === 'invite' ? issueInvitation : issue),
        values: [hash, input.kind, input.accountId, input.email ?? null, input.bindPassword, input.ttlSeconds],
      });
      if (!rows[0]) return undefined;
      await db.query({ ...voidOlder, values: [input.accountId, input.kind, hash] });
      return { token, expiresAt: rows[0].expires_at };
    },
    /** Uses the token once; undefined when it is not (or no longer) valid. */
    async use(token: string, kind: AccountTokenKind): Promise<UsedToken | undefined> {
      if (!TOKEN_SHAPE.test(token)) return undefined;
      return (await db.query<UsedToken>({ ...use, values: [tokenHash(token), kind] })).rows[0];
    },
    async peek(token: string, kind: AccountTokenKind): Promise<UsedToken | undefined> {
      if (!TOKEN_SHAPE.test(token)) return undefined;
      return (await db.query<UsedToken>({ ...peek, values: [tokenHash(token), kind] })).rows[0];
    },
    /** When the account's usable links of this kind expire; undefined when it has none. */
    async pendingUntil(accountId: string, kind: AccountTokenKind): Promise<Date | undefined> {
      return (
        (await db.query<{ until: Date | null }>({ ...pendingUntil, values: [accountId, kind] })).rows[0]?.until ??
        undefined
      );
    },
    /** The address of the account's newest usable link of `kind`, if any (a pending email change). */
    async pendingEmail(accountId: string, kind: AccountTokenKind): Promise<string | undefined> {
      return (
        (await db.query<{ email: string | null }>({ ...pendingEmail, values: [accountId, kind] })).rows[0]?.email ??
        undefined
      );
    },
    /** Janitor: deletes tokens a day past their expiry or use, at most `batch`; returns how many. */
    async sweep(batch = 1000): Promise<number> {
      return (await db.query({ ...sweep, values: [batch] })).rowCount ?? 0;
    },
  };
}
