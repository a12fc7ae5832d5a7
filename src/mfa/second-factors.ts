import { randomUUID } from 'node:crypto';
import type { Accounts } from '../accounts/accounts.ts';
import { type AuditStore, createAuditStore } from '../audit/store.ts';
import { type Pool, type PoolClient, withTransaction } from '../db/pool.ts';
import { PAGE_ROUTES } from '../http/routes.ts';
import { createOutboxStore } from '../mail/outbox-store.ts';
import type { MailLocale } from '../mail/templates.ts';
import type { SecretBox } from '../secret-box.ts';
import { createFactorStore, type FactorKind, type FactorStore } from './factor-store.ts';
import { newRecoveryCodes, normalizeRecoveryCode, recoveryCodeDigest } from './recovery-codes.ts';
import { newTotpSecret, normalizeTotpCode, totpSetupOf, totpStepOf } from './totp.ts';

/** What an account has: the account page and the sign-in decide on it. Never a secret. */
export interface FactorSummary {
  totp: boolean;
  passkeys: number;
  /** Unused recovery codes. */
  recoveryCodes: number;
  /** A factor that can be asked for at sign-in (an authenticator app or a passkey). */
  hasFactor: boolean;
}

/** A setup in progress: the pending row and what the page shows. */
export interface TotpSetup {
  factorId: string;
  secret: string;
  uri: string;
  qrDataUri: string;
}

export type ConfirmTotp =
  /** recoveryCodes: a new set, made because the account had none: shown once. */
  { ok: true; recoveryCodes: string[] | undefined } | { ok: false; reason: 'invalid_code' | 'not_found' };

export type SecondFactorCheck =
  | { ok: true; method: 'totp' | 'recovery' }
  | { ok: false; reason: 'invalid' | 'locked'; lockedNow?: boolean | undefined };

/** `hasFactor` is also read by the sign-in's claim (factor-store.ts claimSignIn): change both together. */
function summaryOf(kinds: Partial<Record<FactorKind, number>>): FactorSummary {
  const totp = (kinds.totp ?? 0) > 0;
  const passkeys = kinds.webauthn ?? 0;
  return { totp, passkeys, recoveryCodes: kinds.recovery ?? 0, hasFactor: totp || passkeys > 0 };
}

/**
 * Second factors of an account (issue 16): authenticator apps and recovery codes (passkeys add
 * theirs), over account_factors (factor-store.ts). Built once in services.ts. Each code is
 * accepted once, decided by the UPDATE that records it; wrong codes at sign-in count toward the
 * account's lockout (accounts.checkSecondFactor).
 */
export function createSecondFactors(deps: {
  pool: Pool;
  box: SecretBox;
  accounts: Pick<Accounts, 'checkSecondFactor' | 'store'>;
  audit: AuditStore;
  /** The name apps show above the code (BRAND_NAME). */
  issuerName: string;
}) {
  const { pool, box, accounts, audit } = deps;
  const factors = createFactorStore(pool);
  const inTransaction = <T>(work: (store: FactorStore, client: PoolClient) => Promise<T>) =>
    withTransaction(pool, (client) => work(createFactorStore(client), client));

  /** A new set of recovery codes replacing any old one (in the caller's transaction); the codes in clear. */
  async function replaceRecoveryCodes(store: FactorStore, accountId: string): Promise<string[]> {
    const codes = newRecoveryCodes();
    await store.recoveryReplace(
      accountId,
      codes.map((code) => recoveryCodeDigest(box, normalizeRecoveryCode(code)!)),
    );
    return codes;
  }

  /**
   * The account's first set of recovery codes (in the caller's transaction), made when it has no
   * unused one; undefined when it has. Of first factors added at the same moment, one makes the set.
   */
  async function firstRecoveryCodes(store: FactorStore, accountId: string): Promise<string[] | undefined> {
    await store.recoveryLock(accountId);
    return (await store.kindsOf(accountId)).recovery ? undefined : replaceRecoveryCodes(store, accountId);
  }

  async function verifyTotp(accountId: string, input: string): Promise<boolean> {
    const code = normalizeTotpCode(input);
    const factor = code && (await factors.totpFindConfirmed(accountId));
    if (!code || !factor) return false;
    const step = totpStepOf(box.open(factor.secret_sealed), code);
    return step !== undefined && (await factors.totpUseStep(factor.id, step));
  }

  /** Uses a recovery code once and, in the same transaction, tells the person by mail. */
  async function useRecoveryCode(accountId: string, input: string, locale: MailLocale): Promise<boolean> {
    const code = normalizeRecoveryCode(input);
    if (!code) return false;
    const used = await inTransaction(async (store, client) => {
      if (!(await store.recoveryUse(accountId, recoveryCodeDigest(box, code)))) return false;
      const account = await accounts.store.findById(accountId);
      if (account) {
        const remaining = (await store.kindsOf(accountId)).recovery ?? 0;
        await createOutboxStore(client, box).enqueue({
          recipient: account.email,
          template: 'recovery_code_used',
          locale,
          data: { name: account.name, usedAt: new Date().toISOString(), remaining, helpPath: PAGE_ROUTES.account },
        });
      }
      return true;
    });
    if (used) await audit.record({ event: 'mfa.recovery_code_used', accountId });
    return used;
  }

  return {
    async summary(accountId: string): Promise<FactorSummary> {
      return summaryOf(await factors.kindsOf(accountId));
    },

    /**
     * Starts setting up an authenticator app: a new secret, sealed in a row that counts for
     * nothing until confirmed (an earlier unconfirmed one is replaced).
     */
    async startTotp(account: { id: string; email: string }): Promise<TotpSetup> {
      const secret = newTotpSecret();
      const factorId = randomUUID();
      await factors.totpInsertPending(factorId, account.id, box.seal(secret));
      return { factorId, ...(await totpSetupOf(secret, { issuer: deps.issuerName, label: account.email })) };
    },

    /** The setup again (a wrong code typed): undefined when it is gone (confirmed, replaced or removed). */
    async pendingTotp(account: { id: string; email: string }, factorId: string): Promise<TotpSetup | undefined> {
      const row = await factors.totpFindPending(factorId, account.id);
      if (!row) return undefined;
      const secret = box.open(row.secret_sealed);
      return { factorId, ...(await totpSetupOf(secret, { issuer: deps.issuerName, label: account.email })) };
    },

    /**
     * Confirms a setup with a current code: the app replaces the account's previous one, and the
     * code is spent. The first factor of an account comes with a set of recovery codes.
     */
    async confirmTotp(accountId: string, factorId: string, input: string): Promise<ConfirmTotp> {
      const code = normalizeTotpCode(input);
      const row = await factors.totpFindPending(factorId, accountId);
      if (!row) return { ok: false, reason: 'not_found' };
      const step = code ? totpStepOf(box.open(row.secret_sealed), code) : undefined;
      if (step === undefined) return { ok: false, reason: 'invalid_code' };
      const result = await inTransaction(async (store): Promise<ConfirmTotp> => {
        await store.totpDeleteConfirmed(accountId);
        if (!(await store.totpConfirm(factorId, accountId, step))) return { ok: false, reason: 'not_found' };
        return { ok: true, recoveryCodes: await firstRecoveryCodes(store, accountId) };
      });
      if (result.ok) await audit.record({ event: 'mfa.totp_added', accountId });
      return result;
    },

    /**
     * Removes the authenticator app. With no factor left, the recovery codes go too (they only
     * stood in for a factor); a factor set up later comes with a new set.
     */
    async removeTotp(accountId: string): Promise<boolean> {
      const removed = await inTransaction(async (store) => {
        const had = await store.totpDeleteConfirmed(accountId);
        if (!summaryOf(await store.kindsOf(accountId)).hasFactor) await store.recoveryReplace(accountId, []);
        return had;
      });
      if (removed) await audit.record({ event: 'mfa.totp_removed', accountId });
      return removed;
    },

    /**
     * For a factor set up elsewhere (passkeys): the first set of recovery codes, made when the
     * account has no unused one; undefined when it has (they are not shown again).
     */
    async recoveryCodesForNewFactor(accountId: string): Promise<string[] | undefined> {
      return inTransaction((store) => firstRecoveryCodes(store, accountId));
    },

    /** A new set of recovery codes; the old ones stop working. */
    async regenerateRecoveryCodes(accountId: string): Promise<string[]> {
      const codes = await inTransaction((store) => replaceRecoveryCodes(store, accountId));
      await audit.record({ event: 'mfa.recovery_codes_regenerated', accountId });
      return codes;
    },

    /**
     * The second step of a sign-in: a code from the authenticator app or a recovery code. The
     * attempt counts toward the account's lockout before it is checked; each code works once.
     */
    async check(
      accountId: string,
      answer: { method: 'totp' | 'recovery'; code: string },
      locale: MailLocale,
    ): Promise<SecondFactorCheck> {
      const result = await accounts.checkSecondFactor(accountId, () =>
        answer.method === 'totp' ? verifyTotp(accountId, answer.code) : useRecoveryCode(accountId, answer.code, locale),
      );
      return result.ok ? { ok: true, method: answer.method } : result;
    },

    /**
     * Another factor's answer at the second step (a passkey, mfa/passkeys.ts) under the same
     * lockout as a code: counted before `verify` runs, refused while the account is locked.
     */
    checkWith(accountId: string, verify: () => Promise<boolean>) {
      return accounts.checkSecondFactor(accountId, verify);
    },

    /**
     * `users reset-mfa`: removes every factor of the account (apps, passkeys, recovery codes) in
     * one statement, records it and mails the person, in one transaction. Undefined when there is
     * no such account.
     */
    async reset(accountId: string, locale: MailLocale): Promise<{ removed: FactorKind[] } | undefined> {
      return inTransaction(async (store, client) => {
        const account = await accounts.store.findById(accountId);
        if (!account) return undefined;
        const removed = await store.deleteAll(accountId);
        const kinds = [...new Set(removed)].sort();
        await createAuditStore(client).record({
          event: 'mfa.reset',
          accountId,
          details: { removed: kinds },
        });
        await createOutboxStore(client, box).enqueue({
          recipient: account.email,
          template: 'mfa_reset',
          locale,
          data: { name: account.name, resetAt: new Date().toISOString(), accountPath: PAGE_ROUTES.account },
        });
        return { removed: kinds };
      });
    },
  };
}
export type SecondFactors = ReturnType<typeof createSecondFactors>;
