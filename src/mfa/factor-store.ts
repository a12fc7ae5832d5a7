import type { Queryable } from '../db/pool.ts';

/**
 * All SQL of account_factors (migrations/0012_account_factors.sql), as named prepared statements,
 * one section per kind of factor. Every "use once" decision (a TOTP time step, a recovery code) is
 * made by the one UPDATE that records it, so it holds across nodes and simultaneous requests.
 */

// ---------------------------------------------------------------------------------------------
// Every kind
// ---------------------------------------------------------------------------------------------

/**
 * What an account has, by kind: a TOTP counts once confirmed, a recovery code while unused.
 * Secrets never leave this statement.
 */
const kindsOf = {
  name: 'account_factors.kinds_of',
  text: `select kind, count(*)::int as count from account_factors
         where account_id = $1 and (kind <> 'totp' or confirmed_at is not null) and (kind <> 'recovery' or used_at is null)
         group by kind`,
};
/** users reset-mfa: every factor of the account, of every kind, in one statement. */
const deleteAll = {
  name: 'account_factors.delete_all',
  text: `delete from account_factors where account_id = $1 returning kind`,
};

// ---------------------------------------------------------------------------------------------
// TOTP (authenticator apps, RFC 6238)
// ---------------------------------------------------------------------------------------------

/** A setup not yet confirmed: the sealed secret, waiting for the person to type a current code. */
const totpInsertPending = {
  name: 'account_factors.totp_insert_pending',
  text: `insert into account_factors (id, account_id, kind, secret_sealed) values ($1, $2, 'totp', $3)`,
};
/** Earlier setups the person left unconfirmed (a new one replaces them; the janitor is not needed). */
const totpDeletePending = {
  name: 'account_factors.totp_delete_pending',
  text: `delete from account_factors where account_id = $1 and kind = 'totp' and confirmed_at is null`,
};
const totpFindPending = {
  name: 'account_factors.totp_find_pending',
  text: `select id, secret_sealed from account_factors
         where id = $1 and account_id = $2 and kind = 'totp' and confirmed_at is null`,
};
/**
 * Confirms a setup with the time step of the code typed: that code is then spent (last_used_step).
 * The previous app of the account, if any, is removed first in the same transaction (services).
 */
const totpConfirm = {
  name: 'account_factors.totp_confirm',
  text: `update account_factors set confirmed_at = now(), last_used_step = $3, last_used_at = now()
         where id = $1 and account_id = $2 and kind = 'totp' and confirmed_at is null
         returning id`,
};
const totpDeleteConfirmed = {
  name: 'account_factors.totp_delete_confirmed',
  text: `delete from account_factors where account_id = $1 and kind = 'totp' and confirmed_at is not null returning id`,
};
const totpFindConfirmed = {
  name: 'account_factors.totp_find_confirmed',
  text: `select id, secret_sealed from account_factors
         where account_id = $1 and kind = 'totp' and confirmed_at is not null`,
};
/**
 * Accepts a code's time step once (RFC 6238 §5.2): only a step after the last accepted one raises
 * last_used_step. Of simultaneous submissions of one code (on any node) exactly one gets a row.
 */
const totpUseStep = {
  name: 'account_factors.totp_use_step',
  text: `update account_factors set last_used_step = $2, last_used_at = now()
         where id = $1 and kind = 'totp' and confirmed_at is not null
           and (last_used_step is null or last_used_step < $2)
         returning id`,
};

// ---------------------------------------------------------------------------------------------
// Recovery codes
// ---------------------------------------------------------------------------------------------

const recoveryDeleteAll = {
  name: 'account_factors.recovery_delete_all',
  text: `delete from account_factors where account_id = $1 and kind = 'recovery'`,
};
/** A set of codes, by their keyed digests (secret-box.ts digest), in one statement. */
const recoveryInsert = {
  name: 'account_factors.recovery_insert',
  text: `insert into account_factors (id, account_id, kind, code_digest)
         select gen_random_uuid()::text, $1, 'recovery', digest from unnest($2::text[]) as digest`,
};
/** Uses a code once: of two uses at once, one gets the row. */
const recoveryUse = {
  name: 'account_factors.recovery_use',
  text: `update account_factors set used_at = now(), last_used_at = now()
         where account_id = $1 and kind = 'recovery' and code_digest = $2 and used_at is null
         returning id`,
};

// ---------------------------------------------------------------------------------------------
// Passkeys (WebAuthn)
// ---------------------------------------------------------------------------------------------

export type FactorKind = 'totp' | 'webauthn' | 'recovery';

export function createFactorStore(db: Queryable) {
  return {
    /** Count by kind: confirmed TOTP, passkeys, unused recovery codes. */
    async kindsOf(accountId: string): Promise<Partial<Record<FactorKind, number>>> {
      const { rows } = await db.query<{ kind: FactorKind; count: number }>({ ...kindsOf, values: [accountId] });
      return Object.fromEntries(rows.map((row) => [row.kind, row.count]));
    },
    /** Removes every factor of the account; the kinds removed (one entry per row). */
    async deleteAll(accountId: string): Promise<FactorKind[]> {
      const { rows } = await db.query<{ kind: FactorKind }>({ ...deleteAll, values: [accountId] });
      return rows.map((row) => row.kind);
    },

    // TOTP
    async totpInsertPending(id: string, accountId: string, secretSealed: string): Promise<void> {
      await db.query({ ...totpDeletePending, values: [accountId] });
      await db.query({ ...totpInsertPending, values: [id, accountId, secretSealed] });
    },
    async totpFindPending(id: string, accountId: string): Promise<{ id: string; secret_sealed: string } | undefined> {
      return (await db.query<{ id: string; secret_sealed: string }>({ ...totpFindPending, values: [id, accountId] }))
        .rows[0];
    },
    /** Removes the account's confirmed app; whether there was one. */
    async totpDeleteConfirmed(accountId: string): Promise<boolean> {
      return ((await db.query({ ...totpDeleteConfirmed, values: [accountId] })).rowCount ?? 0) > 0;
    },
    async totpConfirm(id: string, accountId: string, step: number): Promise<boolean> {
      return ((await db.query({ ...totpConfirm, values: [id, accountId, step] })).rowCount ?? 0) > 0;
    },
    async totpFindConfirmed(accountId: string): Promise<{ id: string; secret_sealed: string } | undefined> {
      return (await db.query<{ id: string; secret_sealed: string }>({ ...totpFindConfirmed, values: [accountId] }))
        .rows[0];
    },
    /** True when this call spent `step`: no earlier call accepted it or a later one. */
    async totpUseStep(id: string, step: number): Promise<boolean> {
      return ((await db.query({ ...totpUseStep, values: [id, step] })).rowCount ?? 0) > 0;
    },

    // Recovery codes
    /** Replaces the account's codes with these digests (run inside a transaction). */
    async recoveryReplace(accountId: string, digests: string[]): Promise<void> {
      await db.query({ ...recoveryDeleteAll, values: [accountId] });
      await db.query({ ...recoveryInsert, values: [accountId, digests] });
    },
    async recoveryUse(accountId: string, digest: string): Promise<boolean> {
      return ((await db.query({ ...recoveryUse, values: [accountId, digest] })).rowCount ?? 0) > 0;
    },
  };
}
export type FactorStore = ReturnType<typeof createFactorStore>;
