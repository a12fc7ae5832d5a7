import {
  type ClaimedAttempt,
  type ClaimedAttemptRow,
  claimAttemptStatement,
  claimedAttemptOf,
} from '../accounts/store.ts';
import type { Queryable } from '../db/pool.ts';

/**
 * All SQL of account_factors (migrations/0012_account_factors.sql) and of the passkey challenges
 * (webauthn_challenges, 0013), as named prepared statements, one section per kind of factor.
 * Every "use once" decision (a TOTP time step, a recovery code, a passkey's counter, a challenge)
 * is made by the one statement that records it, so it holds across nodes and simultaneous requests.
 */

// ---------------------------------------------------------------------------------------------
// Every kind
// ---------------------------------------------------------------------------------------------

/** A factor that counts: a TOTP once confirmed, a recovery code while unused, every passkey. */
const COUNTS = `(kind <> 'totp' or confirmed_at is not null) and (kind <> 'recovery' or used_at is null)`;
/** What an account has, by kind (what COUNTS). Secrets never leave this statement. */
const kindsOf = {
  name: 'account_factors.kinds_of',
  text: `select kind, count(*)::int as count from account_factors where account_id = $1 and ${COUNTS} group by kind`,
};
/**
 * The sign-in's lockout claim on the account (accounts/store.ts) with whether the account has a
 * factor to ask for after the password: a confirmed authenticator app or a passkey, as
 * second-factors.ts summaryOf counts `hasFactor`. One round trip for both on the password POST.
 */
const claimSignIn = {
  name: 'account_factors.claim_sign_in',
  text: claimAttemptStatement(`exists (select 1 from account_factors
           where account_id = accounts.id and kind in ('totp', 'webauthn') and ${COUNTS})`),
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

/**
 * Holds one account's recovery codes until the transaction ends: whether the account has a set and
 * what replaces it are decided by one transaction at a time (a 64-bit hash of the account id).
 */
const recoveryLock = {
  name: 'account_factors.recovery_lock',
  text: `select pg_advisory_xact_lock(hashtextextended('latchkey:recovery-codes:' || $1, 0))`,
};
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

/** A passkey as stored: what @simplewebauthn/server reported at registration, and its counter. */
export interface PasskeyRow {
  id: string;
  account_id: string;
  name: string;
  credential_id: Buffer;
  public_key: Buffer;
  /** Postgres bigint: pg returns it as a string; the store turns it into a number. */
  sign_count: number;
  transports: string[] | null;
  /** singleDevice | multiDevice */
  device_type: string | null;
  backed_up: boolean;
  last_used_at: Date | null;
  created_at: Date;
}

export interface NewPasskey {
  id: string;
  accountId: string;
  name: string;
  credentialId: Buffer;
  publicKey: Buffer;
  signCount: number;
  transports: string[];
  deviceType: string;
  backedUp: boolean;
}

export type ChallengePurpose = 'register' | 'authenticate';

const PASSKEY_COLUMNS = `id, account_id, name, credential_id, public_key, sign_count::float8 as sign_count, transports,
  device_type, coalesce(backed_up, false) as backed_up, last_used_at, created_at`;

const insertPasskey = {
  name: 'account_factors.insert_passkey',
  text: `insert into account_factors (id, account_id, kind, name, credential_id, public_key, sign_count, transports,
           device_type, backed_up)
         values ($1, $2, 'webauthn', $3, $4, $5, $6, $7, $8, $9)
         on conflict (credential_id) do nothing
         returning ${PASSKEY_COLUMNS}`,
};
const passkeysOf = {
  name: 'account_factors.passkeys_of',
  text: `select ${PASSKEY_COLUMNS} from account_factors where account_id = $1 and kind = 'webauthn'
         order by created_at, id`,
};
const passkeyByCredential = {
  name: 'account_factors.passkey_by_credential',
  text: `select ${PASSKEY_COLUMNS} from account_factors where credential_id = $1 and kind = 'webauthn'`,
};
/**
 * Records a use, deciding the counter rule in the same statement (WebAuthn §6.1.1): a counter of 0
 * that stays 0 is an authenticator without one; otherwise the new counter must exceed the stored
 * one. Of two uses of one assertion (or of a cloned authenticator) at once, one row comes back.
 */
const usePasskey = {
  name: 'account_factors.use_passkey',
  text: `update account_factors set sign_count = $2, backed_up = $3, device_type = $4, last_used_at = now()
         where id = $1 and kind = 'webauthn' and (($2::bigint = 0 and sign_count = 0) or $2::bigint > sign_count)
         returning ${PASSKEY_COLUMNS}`,
};
const removePasskey = {
  name: 'account_factors.remove_passkey',
  text: `delete from account_factors where id = $1 and account_id = $2 and kind = 'webauthn' returning name`,
};
/**
 * A new challenge, and of the older ones with the same binding only the 4 newest stay: a page may
 * ask again (the button after the autofill request, a second try) without the rows growing. The
 * DELETE sees the rows as they were before the INSERT, so the new one is never among those removed.
 */
const issueChallenge = {
  name: 'webauthn_challenges.issue',
  text: `with fresh as (
           insert into webauthn_challenges (challenge, purpose, binding, account_id, expires_at)
           values ($1, $2, $3, $4, now() + make_interval(secs => $5)) returning challenge),
         dropped as (
           delete from webauthn_challenges where binding = $3 and challenge in (
             select challenge from webauthn_challenges where binding = $3 order by created_at desc offset 4))
         select challenge from fresh`,
};
/** Uses a challenge up: the one statement that decides it was ours, unused, and for this purpose. */
const consumeChallenge = {
  name: 'webauthn_challenges.consume',
  text: `delete from webauthn_challenges where challenge = $1 and binding = $2 and purpose = $3
         returning account_id, expires_at > now() as fresh`,
};
const sweepChallenges = {
  name: 'webauthn_challenges.sweep',
  text: `delete from webauthn_challenges where challenge in (
           select challenge from webauthn_challenges where expires_at < now() limit $1)`,
};

export type FactorKind = 'totp' | 'webauthn' | 'recovery';

export function createFactorStore(db: Queryable) {
  const passkey = (row: PasskeyRow | undefined): PasskeyRow | undefined =>
    row && { ...row, sign_count: Number(row.sign_count) };
  return {
    /** Count by kind: confirmed TOTP, passkeys, unused recovery codes. */
    async kindsOf(accountId: string): Promise<Partial<Record<FactorKind, number>>> {
      const { rows } = await db.query<{ kind: FactorKind; count: number }>({ ...kindsOf, values: [accountId] });
      return Object.fromEntries(rows.map((row) => [row.kind, row.count]));
    },
    /** accounts.ts signIn's claim: the attempt counted, and whether a second factor follows; undefined when no account or locked. */
    async claimSignIn(email: string, threshold: number, lockSeconds: number): Promise<ClaimedAttempt | undefined> {
      const { rows } = await db.query<ClaimedAttemptRow>({
        ...claimSignIn,
        values: [email, threshold, lockSeconds],
      });
      return rows[0] && claimedAttemptOf(rows[0]);
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
    /** In a transaction: until it ends, no other transaction changes or first-makes this account's codes. */
    async recoveryLock(accountId: string): Promise<void> {
      await db.query({ ...recoveryLock, values: [accountId] });
    },
    /** Replaces the account's codes with these digests, none for `[]` (in a transaction: it takes recoveryLock). */
    async recoveryReplace(accountId: string, digests: string[]): Promise<void> {
      await db.query({ ...recoveryLock, values: [accountId] });
      await db.query({ ...recoveryDeleteAll, values: [accountId] });
      await db.query({ ...recoveryInsert, values: [accountId, digests] });
    },
    async recoveryUse(accountId: string, digest: string): Promise<boolean> {
      return ((await db.query({ ...recoveryUse, values: [accountId, digest] })).rowCount ?? 0) > 0;
    },

    // --- passkeys -----------------------------------------------------------------------------
    /** The stored passkey; undefined when its credential id is already registered (to anyone). */
    async insertPasskey(input: NewPasskey): Promise<PasskeyRow | undefined> {
      const { rows } = await db.query<PasskeyRow>({
        ...insertPasskey,
        values: [
          input.id,
          input.accountId,
          input.name,
          input.credentialId,
          input.publicKey,
          input.signCount,
          input.transports,
          input.deviceType,
          input.backedUp,
        ],
      });
      return passkey(rows[0]);
    },
    async passkeysOf(accountId: string): Promise<PasskeyRow[]> {
      const { rows } = await db.query<PasskeyRow>({ ...passkeysOf, values: [accountId] });
      return rows.map((row) => passkey(row)!);
    },
    async passkeyByCredential(credentialId: Buffer): Promise<PasskeyRow | undefined> {
      const { rows } = await db.query<PasskeyRow>({ ...passkeyByCredential, values: [credentialId] });
      return passkey(rows[0]);
    },
    /** The passkey after this use; undefined when the counter rule refuses it (usePasskey). */
    async usePasskey(
      id: string,
      use: { signCount: number; backedUp: boolean; deviceType: string },
    ): Promise<PasskeyRow | undefined> {
      const { rows } = await db.query<PasskeyRow>({
        ...usePasskey,
        values: [id, use.signCount, use.backedUp, use.deviceType],
      });
      return passkey(rows[0]);
    },
    /** The removed passkey's name; undefined when the account has no such passkey. */
    async removePasskey(id: string, accountId: string): Promise<string | undefined> {
      const { rows } = await db.query<{ name: string }>({ ...removePasskey, values: [id, accountId] });
      return rows[0]?.name;
    },
    async issueChallenge(input: {
      challenge: string;
      purpose: ChallengePurpose;
      binding: string;
      accountId?: string | undefined;
      ttlSeconds: number;
    }): Promise<void> {
      await db.query({
        ...issueChallenge,
        values: [input.challenge, input.purpose, input.binding, input.accountId ?? null, input.ttlSeconds],
      });
    },
    /**
     * Uses the challenge up. `undefined` when it is not one we handed out for this binding and
     * purpose, or was used already; `fresh: false` when it had expired (it is gone all the same).
     */
    async consumeChallenge(
      challenge: string,
      binding: string,
      purpose: ChallengePurpose,
    ): Promise<{ accountId: string | null; fresh: boolean } | undefined> {
      const { rows } = await db.query<{ account_id: string | null; fresh: boolean }>({
        ...consumeChallenge,
        values: [challenge, binding, purpose],
      });
      const row = rows[0];
      return row && { accountId: row.account_id, fresh: row.fresh };
    },
    /** Removes expired challenges, at most `batch`; the janitor calls it. */
    async sweepChallenges(batch = 1000): Promise<number> {
      return (await db.query({ ...sweepChallenges, values: [batch] })).rowCount ?? 0;
    },
  };
}
export type FactorStore = ReturnType<typeof createFactorStore>;
