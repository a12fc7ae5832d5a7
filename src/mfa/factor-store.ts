import type { Queryable } from '../db/pool.ts';

/**
 * The account_factors table (migrations/0012) and, for passkeys, webauthn_challenges (0014).
 * One section per kind of factor; each statement is named `<table>.<verb>` beside its text.
 */

// --- passkeys (kind 'webauthn') -------------------------------------------------------------------

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

export function createFactorStore(db: Queryable) {
  const passkey = (row: PasskeyRow | undefined): PasskeyRow | undefined =>
    row && { ...row, sign_count: Number(row.sign_count) };
  return {
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
