import { randomUUID } from 'node:crypto';
import type { PasswordProblem, PasswordRules } from './password-rules.ts';
import { MAX_PASSWORD_LENGTH, type PasswordHasher } from './passwords.ts';
import type { AccountChanges, AccountRow, AccountStore, ClaimAttempt, NewAccount } from './store.ts';

export type SignIn =
  /**
   * loginTs: the session's login time (epoch seconds), after any sign-out cut-off (store.recordSuccess).
   * audited: the `login.success` row was written with it (signIn's `audit`, no second step).
   */
  | { ok: true; accountId: string; loginTs: number; audited: boolean }
  /** accountId: the account the email names, when there is one (for the audit trail, never for the page). */
  | { ok: false; reason: 'bad_credentials'; accountId?: string | undefined }
  | { ok: false; reason: 'disabled'; accountId: string }
  | { ok: false; reason: 'locked'; lockedUntil: Date; accountId: string; lockedNow: boolean };

/** What a new account is made of; the password in clear, hashed by `prepare`. */
export interface NewAccountInput {
  email: string;
  name: string;
  password: string;
  emailVerified?: boolean | undefined;
  givenName?: string | undefined;
  familyName?: string | undefined;
}

export type CreateAccount =
  | { ok: true; account: AccountRow }
  | { ok: false; reason: 'email_taken' | 'invalid_email' | PasswordProblem };

export type UpdateAccount =
  | { ok: true; account: AccountRow }
  | { ok: false; reason: 'email_taken' | 'invalid_email' | 'not_found' };

export type SetPassword =
  | { ok: true; signedOut: boolean; revokedGrants: number }
  | { ok: false; reason: PasswordProblem | 'not_found' };

/**
 * Where an account's sessions and grants are kept (the provider's storage, oidc/payload-store.ts):
 * ends every session of the account and deletes its grants with their tokens; returns the grants.
 */
interface AccountSessions {
  revokeGrantsOfAccount(accountId: string): Promise<number>;
}

/** The account store and the sessions store over one connection, inside one transaction. */
export interface AccountTransaction {
  store: AccountStore;
  sessions: AccountSessions;
}

export interface LockoutPolicy {
  threshold: number;
  lockSeconds: number;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** The one rule for an account's email, on creation and on change (254: the longest address SMTP carries). */
export function isValidEmail(email: string): boolean {
  return EMAIL.test(email) && email.length <= 254;
}

/**
 * Accounts: creation, sign-in with lockout, and the claims the provider releases. `transaction`
 * runs work that changes an account and its sessions together (composition root: services.ts).
 */
export function createAccounts(deps: {
  store: AccountStore;
  /** The sign-in's lockout claim, which also reads whether a second factor follows (mfa/factor-store.ts claimSignIn). */
  claimAttempt: ClaimAttempt;
  passwords: PasswordHasher;
  rules: PasswordRules;
  lockout: LockoutPolicy;
  transaction<T>(work: (tx: AccountTransaction) => Promise<T>): Promise<T>;
}) {
  const { store, claimAttempt, passwords, rules, lockout, transaction } = deps;
  return {
    store,
    /** The rules every new password meets (password-rules.ts); the pages and the CLI name them. */
    passwordRules: rules,

    /**
     * A new account's row, checked (address, password rules) and with its password hashed, not
     * yet stored: `create` stores it, sign-up stores it with its verification mail in one transaction.
     */
    async prepare(
      input: NewAccountInput,
    ): Promise<{ ok: true; account: NewAccount } | { ok: false; reason: 'invalid_email' | PasswordProblem }> {
      const email = input.email.trim();
      if (!isValidEmail(email)) return { ok: false, reason: 'invalid_email' };
      const weak = await rules.check(input.password);
      if (weak) return { ok: false, reason: weak };
      return {
        ok: true,
        account: {
          id: randomUUID(),
          email,
          emailVerified: input.emailVerified ?? false,
          name: input.name.trim() || email,
          givenName: input.givenName,
          familyName: input.familyName,
          passwordHash: await passwords.hash(input.password),
        },
      };
    },

    async create(input: NewAccountInput): Promise<CreateAccount> {
      const prepared = await this.prepare(input);
      if (!prepared.ok) return prepared;
      if (await store.findByEmail(prepared.account.email)) return { ok: false, reason: 'email_taken' };
      try {
        return { ok: true, account: await store.insert(prepared.account) };
      } catch (err) {
        if ((err as { code?: string }).code === '23505') return { ok: false, reason: 'email_taken' };
        throw err;
      }
    },

    /** The account a reference names: an email address when it has an `@`, else an account id. */
    async find(ref: string): Promise<AccountRow | undefined> {
      return ref.includes('@') ? store.findByEmail(ref) : store.findById(ref);
    },

    /**
     * Changes an account's email, names or email_verified; what is not given stays. Whether the
     * email is free is decided by the unique index in the same UPDATE, not by a prior read, so of
     * two changes to one address made at once exactly one succeeds.
     */
    async update(id: string, changes: AccountChanges): Promise<UpdateAccount> {
      if (changes.email !== undefined && !isValidEmail(changes.email)) return { ok: false, reason: 'invalid_email' };
      return store.update(id, changes);
    },

    /**
     * Deletes an account with its sessions, grants (with their tokens) and remembered consents, in
     * one transaction: a failure leaves the account and all it had, never an account whose grants
     * are half gone.
     */
    async delete(id: string): Promise<boolean> {
      return transaction(async (tx) => {
        await tx.sessions.revokeGrantsOfAccount(id);
        return tx.store.delete(id);
      });
    },

    /**
     * Signs the account out everywhere: sets its sign-out cut-off (store.isSignedOut: the provider
     * refuses every session, code and token authenticated before it, even one a request in flight
     * saves again) and deletes its sessions and grants with their tokens; returns the grants
     * deleted, undefined when there is no such account.
     */
    async signOutEverywhere(id: string): Promise<number | undefined> {
      return transaction(async (tx) =>
        (await tx.store.signOut(id)) ? tx.sessions.revokeGrantsOfAccount(id) : undefined,
      );
    },

    /**
     * Checks an email and password. Every path that looks at a password spends one argon2
     * verification, so timing tells nothing about whether the email exists. The attempt is counted
     * before the password is checked (claimAttempt), so however many guesses arrive at once
     * at most LOCKOUT_THRESHOLD of them are checked per lock period; a locked account is refused
     * even with the right password. A hash made with older ARGON2_* settings is replaced on success.
     */
    async signIn(
      email: string,
      password: string,
      options: {
        /**
         * Asked once the password is right, with whether the account has a second factor (read by
         * the claim): the second step that follows, if any. Before a second factor is checked
         * ('verify') the lockout count stays until it succeeds; either step leaves the sign-in's
         * success to be recorded when it is done.
         */
        secondStep?: (hasSecondFactor: boolean) => Promise<'verify' | 'enrol' | undefined>;
        /** Where the sign-in comes from: its `login.success` audit row is written with the success. */
        audit?: { clientId: string; ip: string } | undefined;
      } = {},
    ): Promise<SignIn> {
      if (password.length > MAX_PASSWORD_LENGTH) return { ok: false, reason: 'bad_credentials' };
      const attempt = await claimAttempt(email.trim(), lockout.threshold, lockout.lockSeconds);
      if (!attempt) {
        // No account, or a locked one: the same argon2 work and the same answer on the page.
        const [account] = await Promise.all([store.findByEmail(email.trim()), passwords.verifyDummy(password)]);
        if (!account) return { ok: false, reason: 'bad_credentials' };
        if (account.locked_until && account.locked_until > new Date()) {
          return {
            ok: false,
            reason: 'locked',
            lockedUntil: account.locked_until,
            accountId: account.id,
            lockedNow: false,
          };
        }
        return { ok: false, reason: 'bad_credentials', accountId: account.id };
      }
      const { account, lockedNow, hasSecondFactor } = attempt;
      if (!(await passwords.verify(account.password_hash, password))) {
        if (lockedNow)
          return {
            ok: false,
            reason: 'locked',
            lockedUntil: account.locked_until!,
            accountId: account.id,
            lockedNow: true,
          };
        return { ok: false, reason: 'bad_credentials', accountId: account.id };
      }
      if (account.disabled) return { ok: false, reason: 'disabled', accountId: account.id };
      // The attempt that locked the account still signs in with the right password, but the lock
      // stays: it stops the guesses that arrived with it.
      const rehash = passwords.needsRehash(account.password_hash) ? await passwords.hash(password) : undefined;
      const secondStep = await options.secondStep?.(hasSecondFactor);
      const audited = !secondStep && options.audit ? { event: 'login.success', ...options.audit } : undefined;
      const loginTs = await store.recordSuccess(account, rehash, { resetCount: secondStep !== 'verify', audited });
      if (loginTs === undefined) return { ok: false, reason: 'bad_credentials', accountId: account.id };
      return { ok: true, accountId: account.id, loginTs, audited: audited !== undefined };
    },

    /**
     * Checks a second factor of an account whose password was right (mfa/) under the same lockout
     * as signIn: the attempt is counted before `check` runs (store.claimAttemptById, one UPDATE
     * that refuses a locked or disabled account), so simultaneous guesses cannot slip past the
     * count; a right answer resets the count as a right password does.
     */
    async checkSecondFactor(
      accountId: string,
      check: () => Promise<boolean>,
    ): Promise<{ ok: true } | { ok: false; reason: 'invalid' | 'locked'; lockedNow?: boolean }> {
      const attempt = await store.claimAttemptById(accountId, lockout.threshold, lockout.lockSeconds);
      if (!attempt) return { ok: false, reason: 'locked' };
      if (!(await check()))
        return attempt.lockedNow ? { ok: false, reason: 'locked', lockedNow: true } : { ok: false, reason: 'invalid' };
      await store.settleAttempt(accountId, attempt);
      return { ok: true };
    },

    /**
     * Sets a new password (an administrator's reset). It clears any lockout and, unless
     * `keepSessions`, signs the person out everywhere (signOutEverywhere, its cut-off set by the
     * same UPDATE as the password), so a stolen refresh token or session dies with the old password
     * (OWASP ASVS 3.3.3). A sign-in that checked the old password before the change records no
     * success (store.recordSuccess) and is refused rather than left signed in.
     */
    async setPassword(
      id: string,
      password: string,
      options: { keepSessions?: boolean | undefined } = {},
    ): Promise<SetPassword> {
      const weak = await rules.check(password);
      if (weak) return { ok: false, reason: weak };
      const hash = await passwords.hash(password);
      const signOut = !options.keepSessions;
      return transaction(async (tx): Promise<SetPassword> => {
        if (!(await tx.store.setPassword(id, hash, signOut))) return { ok: false, reason: 'not_found' };
        if (!signOut) return { ok: true, signedOut: false, revokedGrants: 0 };
        return { ok: true, signedOut: true, revokedGrants: await tx.sessions.revokeGrantsOfAccount(id) };
      });
    },
  };
}
export type Accounts = ReturnType<typeof createAccounts>;

/** Standard claims by scope (OpenID Connect Core 5.4). `sub` is our opaque account id. */
export function claimsFor(account: AccountRow, scope: string): { sub: string; [claim: string]: unknown } {
  const scopes = new Set(scope.split(' '));
  const claims: { sub: string; [claim: string]: unknown } = { sub: account.id };
  if (scopes.has('profile')) {
    claims.name = account.name;
    if (account.given_name) claims.given_name = account.given_name;
    if (account.family_name) claims.family_name = account.family_name;
    claims.updated_at = Math.floor(account.updated_at.getTime() / 1000);
  }
  if (scopes.has('email')) {
    claims.email = account.email;
    claims.email_verified = account.email_verified;
  }
  return claims;
}
