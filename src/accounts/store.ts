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
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `id, email, email_verified, name, given_name, family_name, password_hash, disabled,
  failed_logins, lockouts, locked_until, last_login_at, created_at, updated_at`;

const insert = {
  name: 'accounts.insert',
  text: `insert into accounts (id, email, email_verified, name, given_name, family_name, password_hash)
         values ($1, $2, $3, $4, $5, $6, $7) returning ${COLUMNS}`,
};
const findById = { name: 'accounts.find_by_id', text: `select ${COLUMNS} from accounts where id = $1` };
const findByEmail = { name: 'accounts.find_by_email', text: `select ${COLUMNS} from accounts where lower(email) = lower($1)` };
const list = { name: 'accounts.list', text: `select ${COLUMNS} from accounts order by created_at, id limit $1 offset $2` };
/**
 * Counts a sign-in attempt before its password is checked, so concurrent guesses cannot slip past
 * the count: at most `threshold` attempts per lock period are let through to argon2. The attempt
 * that reaches the threshold locks the account for base * 2^(earlier lockouts) seconds (capped at
 * a day) in the same statement; while locked no row is returned. `failed_logins` thus counts
 * attempts since the last success or lock, those in flight included.
 */
const claimAttempt = {
  name: 'accounts.claim_attempt',
  text: `update accounts set
           failed_logins = case when failed_logins + 1 >= $2 then 0 else failed_logins + 1 end,
           lockouts = case when failed_logins + 1 >= $2 then lockouts + 1 else lockouts end,
           locked_until = case when failed_logins + 1 >= $2
             then now() + make_interval(secs => least($3::float8 * power(2, lockouts), 86400)) else locked_until end
         where lower(email) = lower($1) and (locked_until is null or locked_until <= now())
         returning ${COLUMNS}, coalesce(locked_until > now(), false) as locked_now`,
};
/**
 * Records a right password. The count goes back to 0 only when it is still what this attempt
 * left (no other attempt counted and no lock set meanwhile, `lockouts` being the lock epoch): a
 * success never reopens the door to guesses already refused or still in flight. Nothing happens
 * when the hash changed since it was checked (a new password was set meanwhile). $5, when given,
 * replaces the hash (a rehash at the current ARGON2_* settings).
 */
const recordSuccess = {
  name: 'accounts.record_success',
  text: `update accounts set last_login_at = now(),
           failed_logins = case when failed_logins = $2 and lockouts = $3 then 0 else failed_logins end,
           password_hash = coalesce($5, password_hash)
         where id = $1 and password_hash = $4 returning id`,
};
const setDisabled = { name: 'accounts.set_disabled', text: 'update accounts set disabled = $2, updated_at = now() where id = $1' };
const unlock = { name: 'accounts.unlock', text: 'update accounts set failed_logins = 0, locked_until = null, lockouts = 0, updated_at = now() where id = $1' };
/** A new password also clears any lockout: the lock guarded the old one. */
const setPassword = {
  name: 'accounts.set_password',
  text: `update accounts set password_hash = $2, failed_logins = 0, lockouts = 0, locked_until = null, updated_at = now()
         where id = $1 returning id`,
};
const update = {
  name: 'accounts.update',
  text: `update accounts set email = coalesce($2, email), name = coalesce($3, name), given_name = coalesce($4, given_name),
           family_name = coalesce($5, family_name), email_verified = coalesce($6, email_verified), updated_at = now()
         where id = $1 returning ${COLUMNS}`,
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

export type UpdatedAccount = { ok: true; account: AccountRow } | { ok: false; reason: 'email_taken' | 'not_found' };

/** An attempt counted by claimAttempt: the account as the count left it. */
export interface ClaimedAttempt {
  account: AccountRow;
  /** This attempt reached the threshold and locked the account (its password is still checked). */
  lockedNow: boolean;
}

export function createAccountStore(db: Queryable) {
  return {
    async insert(account: NewAccount): Promise<AccountRow> {
      const { rows } = await db.query<AccountRow>({ ...insert, values: [account.id, account.email, account.emailVerified,
        account.name, account.givenName ?? null, account.familyName ?? null, account.passwordHash] });
      return rows[0]!;
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
    /** Counts an attempt on the account with this email; undefined when there is none or it is locked. */
    async claimAttempt(email: string, threshold: number, lockSeconds: number): Promise<ClaimedAttempt | undefined> {
      const { rows } = await db.query<AccountRow & { locked_now: boolean }>({ ...claimAttempt, values: [email, threshold, lockSeconds] });
      const row = rows[0];
      if (!row) return undefined;
      const { locked_now: lockedNow, ...account } = row;
      return { account, lockedNow };
    },
    /** False when the password changed after `attempt` read it: the check no longer counts. */
    async recordSuccess(attempt: AccountRow, newHash?: string): Promise<boolean> {
      const { rowCount } = await db.query({ ...recordSuccess,
        values: [attempt.id, attempt.failed_logins, attempt.lockouts, attempt.password_hash, newHash ?? null] });
      return rowCount === 1;
    },
    async setDisabled(id: string, disabled: boolean): Promise<void> {
      await db.query({ ...setDisabled, values: [id, disabled] });
    },
    async unlock(id: string): Promise<void> {
      await db.query({ ...unlock, values: [id] });
    },
    /** False when there is no such account. */
    async setPassword(id: string, passwordHash: string): Promise<boolean> {
      return ((await db.query({ ...setPassword, values: [id, passwordHash] })).rowCount ?? 0) > 0;
    },
    /** email_taken when another account has the email (the unique index on lower(email) decides). */
    async update(id: string, changes: AccountChanges): Promise<UpdatedAccount> {
      try {
        const { rows } = await db.query<AccountRow>({ ...update, values: [id, changes.email ?? null, changes.name ?? null,
          changes.givenName ?? null, changes.familyName ?? null, changes.emailVerified ?? null] });
        return rows[0] ? { ok: true, account: rows[0] } : { ok: false, reason: 'not_found' };
      } catch (err) {
        if (isUniqueViolation(err, EMAIL_INDEX)) return { ok: false, reason: 'email_taken' };
        throw err;
      }
    },
    async delete(id: string): Promise<boolean> {
      return ((await db.query({ ...remove, values: [id] })).rowCount ?? 0) > 0;
    },
  };
}
export type AccountStore = ReturnType<typeof createAccountStore>;
