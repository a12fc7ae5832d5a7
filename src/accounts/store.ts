import { type AuditEvent, withAuditRow } from '../audit/store.ts';
import type { Queryable } from '../db/pool.ts';

export interface AccountRow {
  id: string;
  email: string;
  email_verified: boolean;
  name: string;
  given_name: string | null;
  family_name: string | null;
  password_hash: string;
  disabled: boolean;
  failed_logins: number;
  lockouts: number;
  locked_until: Date | null;
  last_login_at: Date | null;
  /** Sessions, codes and tokens authenticated before this are void (set when signed out everywhere). */
  sessions_valid_after: Date | null;
  /** When an administrator last set the password (a rehash does not count). */
  password_changed_at: Date | null;
  /** When the person created it on the sign-up page; null for operators' accounts and invitations. */
  signed_up_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `id, email, email_verified, name, given_name, family_name, password_hash, disabled,
  failed_logins, lockouts, locked_until, last_login_at, sessions_valid_after, password_changed_at, signed_up_at,
  created_at, updated_at`;

const insert = {
  name: 'accounts.insert',
  text: `insert into accounts (id, email, email_verified, name, given_name, family_name, password_hash)
         values ($1, $2, $3, $4, $5, $6, $7) returning ${COLUMNS}`,
};
/**
 * Sign-up: the account, unless its address is taken. The unique index decides (no prior read), and
 * "taken" is no row rather than an error, so the transaction that queues the mail goes on.
 */
const insertSignedUp = {
  name: 'accounts.insert_signed_up',
  text: `insert into accounts (id, email, email_verified, name, given_name, family_name, password_hash, signed_up_at)
         values ($1, $2, $3, $4, $5, $6, $7, now()) on conflict do nothing returning ${COLUMNS}`,
};
/**
 * The login time (epoch seconds) a session started now gets: now, but at least the second after
 * the sign-out cut-off, since the provider compares whole seconds (isSignedOut) and a sign-in in
 * the cut-off's own second must count as after it. clock_timestamp(), not now(): the time the row
 * was updated, after any wait for its lock.
 */
const LOGIN_TS = `greatest(floor(extract(epoch from clock_timestamp())),
  coalesce(floor(extract(epoch from sessions_valid_after)) + 1, 0))::bigint`;

const findById = { name: 'accounts.find_by_id', text: `select ${COLUMNS} from accounts where id = $1` };

/**
 * An account by id as one jsonb value (null when there is none), for a statement of another store
 * that reads it along with what points at it: a token and its grant (oidc/payload-store.ts), so
 * the engine's findAccount needs no round trip of its own. `id`: an SQL expression. Read it with
 * accountFromJson.
 */
export const accountJsonById = (id: string) =>
  `(select to_jsonb(a) from (select ${COLUMNS} from accounts where id = ${id}) a)`;

const TIMESTAMPS = [
  'locked_until',
  'last_login_at',
  'sessions_valid_after',
  'password_changed_at',
  'signed_up_at',
  'created_at',
  'updated_at',
] as const;

/** The row accountJsonById gave, as findById gives it (jsonb holds timestamps as text). */
export function accountFromJson(json: Record<string, unknown>): AccountRow {
  const row = { ...json } as Record<string, unknown>;
  for (const column of TIMESTAMPS) if (typeof row[column] === 'string') row[column] = new Date(row[column]);
  return row as unknown as AccountRow;
}
const findByEmail = {
  name: 'accounts.find_by_email',
  text: `select ${COLUMNS} from accounts where lower(email) = lower($1)`,
};
const list = {
  name: 'accounts.list',
  text: `select ${COLUMNS} from accounts order by created_at, id limit $1 offset $2`,
};
/**
 * Counts a sign-in attempt before its password is checked, so concurrent guesses cannot slip past
 * the count: at most `threshold` attempts per lock period are let through to argon2. The attempt
 * that reaches the threshold locks the account for base * 2^(earlier lockouts) seconds (capped at
 * a day) in the same statement; while locked no row is returned. `failed_logins` thus counts
 * attempts since the last success or lock, those in flight included.
 */
const COUNT_ATTEMPT = `failed_logins = case when failed_logins + 1 >= $2 then 0 else failed_logins + 1 end,
           lockouts = case when failed_logins + 1 >= $2 then lockouts + 1 else lockouts end,
           locked_until = case when failed_logins + 1 >= $2
             then now() + make_interval(secs => least($3::float8 * power(2, lockouts), 86400)) else locked_until end`;
/**
 * The sign-in's claim ($1 email, $2 threshold, $3 lock seconds) as the text of a statement run by
 * mfa/factor-store.ts (account_factors.claim_sign_in). With the account as the count left it, it
 * returns whether the account has a second factor, so the password POST needs no round trip of its
 * own for that. `hasSecondFactor`: an SQL boolean that may refer to the updated row as `accounts`.
 * Read the row with claimedAttemptOf.
 */
export const claimAttemptStatement = (hasSecondFactor: string) => `update accounts set ${COUNT_ATTEMPT}
         where lower(email) = lower($1) and (locked_until is null or locked_until <= now())
         returning ${COLUMNS}, coalesce(locked_until > now(), false) as locked_now, ${hasSecondFactor} as has_second_factor`;

/** A row of claimAttemptStatement. */
export type ClaimedAttemptRow = AccountRow & { locked_now: boolean; has_second_factor: boolean };

/** A row of claimAttemptStatement, as a ClaimedAttempt. */
export function claimedAttemptOf(row: ClaimedAttemptRow): ClaimedAttempt {
  const { locked_now: lockedNow, has_second_factor: hasSecondFactor, ...account } = row;
  return { account, lockedNow, hasSecondFactor };
}
/**
 * The same count for a second factor (mfa/): the account is known by then (its password was
 * right), so it is found by id; a disabled account is not counted (and not let through).
 */
const claimAttemptById = {
  name: 'accounts.claim_attempt_by_id',
  text: `update accounts set ${COUNT_ATTEMPT}
         where id = $1 and not disabled and (locked_until is null or locked_until <= now())
         returning failed_logins, lockouts, coalesce(locked_until > now(), false) as locked_now`,
};
/** A right second factor: the count goes back to 0 only when it is still what this attempt left (recordSuccess). */
const settleAttempt = {
  name: 'accounts.settle_attempt',
  text: `update accounts set failed_logins = case when failed_logins = $2 and lockouts = $3 then 0 else failed_logins end
         where id = $1`,
};
/**
 * Records a right password. The count goes back to 0 only when it is still what this attempt
 * left (no other attempt counted and no lock set meanwhile, `lockouts` being the lock epoch): a
 * success never reopens the door to guesses already refused or still in flight. Nothing happens
 * when a new password was set since the check ($4, password_changed_at as read by the attempt);
 * a rehash by a concurrent sign-in does not count (same password). $5, when given, replaces the
 * hash (a rehash at the current ARGON2_* settings) unless another sign-in already replaced it.
 * Returns the session's login time (loginTimeOf): after the sign-out cut-off as it stands now.
 * $7 false keeps the count: a second factor is still to come, and only its success resets it
 * (settleAttempt), so wrong codes and passwords typed again add up to one lockout.
 */
const RECORD_SUCCESS = `update accounts set last_login_at = now(),
           failed_logins = case when $7 and failed_logins = $2 and lockouts = $3 then 0 else failed_logins end,
           password_hash = case when $5::text is not null and password_hash = $6 then $5 else password_hash end
         where id = $1 and password_changed_at is not distinct from $4
         returning id, ${LOGIN_TS} as login_ts`;
const recordSuccess = { name: 'accounts.record_success', text: RECORD_SUCCESS };
/**
 * The same, with the sign-in's audit row ($8 event, $9 client, $10 address, $11 details) written by
 * the same statement when the success counts: the account's success and its record commit
 * together, and a check that no longer counts (a new password meanwhile) leaves no row.
 */
const recordSuccessAudited = {
  name: 'accounts.record_success_audited',
  text: withAuditRow(RECORD_SUCCESS, '$8, id, $9, $10, $11::jsonb', 'login_ts'),
};
const setDisabled = {
  name: 'accounts.set_disabled',
  text: 'update accounts set disabled = $2, updated_at = now() where id = $1',
};
const unlock = {
  name: 'accounts.unlock',
  text: 'update accounts set failed_logins = 0, locked_until = null, lockouts = 0, updated_at = now() where id = $1',
};
/**
 * A new password also clears any lockout: the lock guarded the old one. With $3 it signs the
 * account out everywhere in the same statement (the cut-off, isSignedOut).
 */
const setPassword = {
  name: 'accounts.set_password',
  // Milliseconds: recordSuccess compares it with the value read into a JS Date.
  text: `update accounts set password_hash = $2, password_changed_at = date_trunc('milliseconds', clock_timestamp()),
           sessions_valid_after = case when $3 then clock_timestamp() else sessions_valid_after end,
           failed_logins = 0, lockouts = 0, locked_until = null, updated_at = now()
         where id = $1 returning id`,
};
const signOut = {
  name: 'accounts.sign_out',
  text: 'update accounts set sessions_valid_after = clock_timestamp(), updated_at = now() where id = $1 returning id',
};
const update = {
  name: 'accounts.update',
  text: `update accounts set email = coalesce($2, email), name = coalesce($3, name), given_name = coalesce($4, given_name),
           family_name = coalesce($5, family_name), email_verified = coalesce($6, email_verified), updated_at = now()
         where id = $1 returning ${COLUMNS}`,
};
/**
 * A confirmed email change: the new address, verified (its owner followed the link mailed to it),
 * in one statement that also refuses it when another account holds the address by then: no row,
 * or, when that account took it in a transaction still in flight, the unique index's violation.
 * `old` is the row as it was (a self-join sees the version before the update): the address to
 * tell. A disabled account's address does not change.
 */
const changeEmail = {
  name: 'accounts.change_email',
  text: `update accounts a set email = $2, email_verified = true, updated_at = now()
         from accounts old
         where a.id = $1 and old.id = a.id and not a.disabled
           and not exists (select 1 from accounts other where lower(other.email) = lower($2) and other.id <> a.id)
         returning a.id, a.name, old.email as previous_email`,
};
/** The unique index on lower(email) (migrations/0001_init.sql). */
const EMAIL_INDEX = 'accounts_email_lower';

function isUniqueViolation(err: unknown, constraint: string): boolean {
  const { code, constraint: violated } = err as { code?: string; constraint?: string };
  return code === '23505' && violated === constraint;
}

const remove = { name: 'accounts.delete', text: 'delete from accounts where id = $1' };

export interface NewAccount {
  id: string;
  email: string;
  emailVerified: boolean;
  name: string;
  givenName?: string | undefined;
  familyName?: string | undefined;
  passwordHash: string;
}

/** What an update may change; what is not given stays. */
export interface AccountChanges {
  email?: string | undefined;
  name?: string | undefined;
  givenName?: string | undefined;
  familyName?: string | undefined;
  emailVerified?: boolean | undefined;
}

export type ChangedEmail =
  | { ok: true; accountId: string; name: string; previousEmail: string }
  | { ok: false; reason: 'email_taken' | 'not_found' };

export type UpdatedAccount = { ok: true; account: AccountRow } | { ok: false; reason: 'email_taken' | 'not_found' };

/** An attempt counted by the sign-in's claim (claimAttemptStatement): the account as the count left it. */
export interface ClaimedAttempt {
  account: AccountRow;
  /** This attempt reached the threshold and locked the account (its password is still checked). */
  lockedNow: boolean;
  /** The account has a factor to ask for after the password (a confirmed authenticator app or a passkey). */
  hasSecondFactor: boolean;
}

/**
 * Counts an attempt on the account with this email; undefined when there is none or it is locked.
 * Runs claimAttemptStatement (mfa/factor-store.ts claimSignIn; composition root services.ts).
 */
export type ClaimAttempt = (
  email: string,
  threshold: number,
  lockSeconds: number,
) => Promise<ClaimedAttempt | undefined>;

/**
 * Whether something the account authenticated at `authTime` (epoch seconds: a session's login, a
 * code's or refresh token's auth_time, an access token's iat) was signed out since. Whole seconds:
 * what was authenticated in the cut-off's own second counts as before it (LOGIN_TS).
 */
export function isSignedOut(account: Pick<AccountRow, 'sessions_valid_after'>, authTime: number | undefined): boolean {
  if (!account.sessions_valid_after) return false;
  return authTime === undefined || authTime <= Math.floor(account.sessions_valid_after.getTime() / 1000);
}

const newAccountValues = (account: NewAccount) => [
  account.id,
  account.email,
  account.emailVerified,
  account.name,
  account.givenName ?? null,
  account.familyName ?? null,
  account.passwordHash,
];

export function createAccountStore(db: Queryable) {
  return {
    async insert(account: NewAccount): Promise<AccountRow> {
      return (await db.query<AccountRow>({ ...insert, values: newAccountValues(account) })).rows[0]!;
    },
    /** A signed-up account; undefined when an account already has the address. */
    async insertSignedUp(account: NewAccount): Promise<AccountRow | undefined> {
      return (await db.query<AccountRow>({ ...insertSignedUp, values: newAccountValues(account) })).rows[0];
    },
    async findById(id: string): Promise<AccountRow | undefined> {
      return (await db.query<AccountRow>({ ...findById, values: [id] })).rows[0];
    },
    async findByEmail(email: string): Promise<AccountRow | undefined> {
      return (await db.query<AccountRow>({ ...findByEmail, values: [email] })).rows[0];
    },
    async list(limit = 1000, offset = 0): Promise<AccountRow[]> {
      return (await db.query<AccountRow>({ ...list, values: [limit, offset] })).rows;
    },
    /** Counts an attempt on the account with this id; undefined when there is none, it is disabled or locked. */
    async claimAttemptById(
      id: string,
      threshold: number,
      lockSeconds: number,
    ): Promise<{ failedLogins: number; lockouts: number; lockedNow: boolean } | undefined> {
      const { rows } = await db.query<{ failed_logins: number; lockouts: number; locked_now: boolean }>({
        ...claimAttemptById,
        values: [id, threshold, lockSeconds],
      });
      const row = rows[0];
      return row && { failedLogins: row.failed_logins, lockouts: row.lockouts, lockedNow: row.locked_now };
    },
    /** After a right answer to an attempt claimed by claimAttemptById. */
    async settleAttempt(id: string, attempt: { failedLogins: number; lockouts: number }): Promise<void> {
      await db.query({ ...settleAttempt, values: [id, attempt.failedLogins, attempt.lockouts] });
    },
    /**
     * The login time for the session, or undefined when a new password was set after `attempt`
     * read the account: the check no longer counts. `newHash` replaces the hash `attempt` checked;
     * `resetCount: false` leaves the failed attempts counted (a second factor follows).
     */
    async recordSuccess(
      attempt: AccountRow,
      newHash?: string,
      options: {
        resetCount: boolean;
        /**
         * The success's audit event, recorded in the same statement (audit/store.ts
         * withAuditRow), for the account that `attempt` read.
         */
        audited?: Omit<AuditEvent, 'accountId'> | undefined;
      } = { resetCount: true },
    ): Promise<number | undefined> {
      const values = [
        attempt.id,
        attempt.failed_logins,
        attempt.lockouts,
        attempt.password_changed_at,
        newHash ?? null,
        attempt.password_hash,
        options.resetCount,
      ];
      const { audited } = options;
      const { rows } = await db.query<{ login_ts: number }>(
        audited
          ? {
              ...recordSuccessAudited,
              values: [
                ...values,
                audited.event,
                audited.clientId ?? null,
                audited.ip ?? null,
                JSON.stringify(audited.details ?? {}),
              ],
            }
          : { ...recordSuccess, values },
      );
      return rows[0]?.login_ts;
    },
    async setDisabled(id: string, disabled: boolean): Promise<void> {
      await db.query({ ...setDisabled, values: [id, disabled] });
    },
    async unlock(id: string): Promise<void> {
      await db.query({ ...unlock, values: [id] });
    },
    /** False when there is no such account. `signOut` also sets the sign-out cut-off (isSignedOut). */
    async setPassword(id: string, passwordHash: string, signOut: boolean): Promise<boolean> {
      return ((await db.query({ ...setPassword, values: [id, passwordHash, signOut] })).rowCount ?? 0) > 0;
    },
    /** Sets the sign-out cut-off to now (isSignedOut); false when there is no such account. */
    async signOut(id: string): Promise<boolean> {
      return ((await db.query({ ...signOut, values: [id] })).rowCount ?? 0) > 0;
    },
    /** email_taken when another account has the email (the unique index on lower(email) decides). */
    async update(id: string, changes: AccountChanges): Promise<UpdatedAccount> {
      try {
        const { rows } = await db.query<AccountRow>({
          ...update,
          values: [
            id,
            changes.email ?? null,
            changes.name ?? null,
            changes.givenName ?? null,
            changes.familyName ?? null,
            changes.emailVerified ?? null,
          ],
        });
        return rows[0] ? { ok: true, account: rows[0] } : { ok: false, reason: 'not_found' };
      } catch (err) {
        if (isUniqueViolation(err, EMAIL_INDEX)) return { ok: false, reason: 'email_taken' };
        throw err;
      }
    },
    /**
     * Sets a new, verified address (changeEmail). email_taken when another account has it; the
     * statement decides, never a read before it. Inside a transaction, a unique violation has
     * aborted that transaction: its COMMIT then rolls back, so nothing of it stays.
     */
    async changeEmail(id: string, email: string): Promise<ChangedEmail> {
      let row: { id: string; name: string; previous_email: string } | undefined;
      try {
        row = (
          await db.query<{ id: string; name: string; previous_email: string }>({ ...changeEmail, values: [id, email] })
        ).rows[0];
      } catch (err) {
        if (isUniqueViolation(err, EMAIL_INDEX)) return { ok: false, reason: 'email_taken' };
        throw err;
      }
      if (row) return { ok: true, accountId: row.id, name: row.name, previousEmail: row.previous_email };
      // Refused: only which words the page uses is read here, the decision was the statement's.
      const account = (await db.query<AccountRow>({ ...findById, values: [id] })).rows[0];
      return { ok: false, reason: account && !account.disabled ? 'email_taken' : 'not_found' };
    },
    async delete(id: string): Promise<boolean> {
      return ((await db.query({ ...remove, values: [id] })).rowCount ?? 0) > 0;
    },
  };
}
export type AccountStore = ReturnType<typeof createAccountStore>;
