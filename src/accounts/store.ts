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
const recordSuccess = {
  name: 'accounts.record_success',
  text: 'update accounts set failed_logins = 0, locked_until = null, last_login_at = now() where id = $1',
};
/**
 * One statement counts the failure and, at the threshold, locks the account for
 * base * 2^(earlier lockouts) seconds, so concurrent guesses cannot slip past the count.
 */
const recordFailure = {
  name: 'accounts.record_failure',
  text: `update accounts set
           failed_logins = case when failed_logins + 1 >= $2 then 0 else failed_logins + 1 end,
           lockouts = case when failed_logins + 1 >= $2 then lockouts + 1 else lockouts end,
           locked_until = case when failed_logins + 1 >= $2
             then now() + make_interval(secs => least($3::float8 * power(2, lockouts), 86400)) else locked_until end
         where id = $1 returning locked_until`,
};
const setDisabled = { name: 'accounts.set_disabled', text: 'update accounts set disabled = $2, updated_at = now() where id = $1' };
const unlock = { name: 'accounts.unlock', text: 'update accounts set failed_logins = 0, locked_until = null, lockouts = 0, updated_at = now() where id = $1' };
const setPassword = { name: 'accounts.set_password', text: 'update accounts set password_hash = $2, updated_at = now() where id = $1' };
const update = {
  name: 'accounts.update',
  text: `update accounts set email = coalesce($2, email), name = coalesce($3, name), given_name = coalesce($4, given_name),
           family_name = coalesce($5, family_name), email_verified = coalesce($6, email_verified), updated_at = now()
         where id = $1 returning ${COLUMNS}`,
};
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
    async recordSuccess(id: string): Promise<void> {
      await db.query({ ...recordSuccess, values: [id] });
    },
    /** Returns the new lock end when this failure locked the account. */
    async recordFailure(id: string, threshold: number, lockSeconds: number): Promise<Date | null> {
      const { rows } = await db.query<{ locked_until: Date | null }>({ ...recordFailure, values: [id, threshold, lockSeconds] });
      return rows[0]?.locked_until ?? null;
    },
    async setDisabled(id: string, disabled: boolean): Promise<void> {
      await db.query({ ...setDisabled, values: [id, disabled] });
    },
    async unlock(id: string): Promise<void> {
      await db.query({ ...unlock, values: [id] });
    },
    async setPassword(id: string, passwordHash: string): Promise<void> {
      await db.query({ ...setPassword, values: [id, passwordHash] });
    },
    async update(id: string, changes: { email?: string; name?: string; givenName?: string; familyName?: string; emailVerified?: boolean }): Promise<AccountRow | undefined> {
      const { rows } = await db.query<AccountRow>({ ...update, values: [id, changes.email ?? null, changes.name ?? null,
        changes.givenName ?? null, changes.familyName ?? null, changes.emailVerified ?? null] });
      return rows[0];
    },
    async delete(id: string): Promise<boolean> {
      return ((await db.query({ ...remove, values: [id] })).rowCount ?? 0) > 0;
    },
  };
}
export type AccountStore = ReturnType<typeof createAccountStore>;
