import { randomUUID } from 'node:crypto';
import type { AccountRow, AccountStore } from './store.ts';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, type PasswordHasher } from './passwords.ts';

export type SignIn =
  | { ok: true; accountId: string }
  /** accountId: the account the email names, when there is one (for the audit trail, never for the page). */
  | { ok: false; reason: 'bad_credentials'; accountId?: string | undefined }
  | { ok: false; reason: 'disabled'; accountId: string }
  | { ok: false; reason: 'locked'; lockedUntil: Date; accountId: string; lockedNow: boolean };

export type CreateAccount =
  | { ok: true; account: AccountRow }
  | { ok: false; reason: 'email_taken' | 'invalid_email' | 'weak_password' | 'password_too_long' };

export interface LockoutPolicy { threshold: number; lockSeconds: number }

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function validateNewPassword(password: string): 'weak_password' | 'password_too_long' | undefined {
  if (password.length > MAX_PASSWORD_LENGTH) return 'password_too_long';
  if (password.length < MIN_PASSWORD_LENGTH) return 'weak_password';
  return undefined;
}

/** Accounts: creation, sign-in with lockout, and the claims the provider releases. */
export function createAccounts(deps: { store: AccountStore; passwords: PasswordHasher; lockout: LockoutPolicy }) {
  const { store, passwords, lockout } = deps;
  return {
    store,

    async create(input: { email: string; name: string; password: string; emailVerified?: boolean; givenName?: string; familyName?: string }): Promise<CreateAccount> {
      const email = input.email.trim();
      if (!EMAIL.test(email) || email.length > 254) return { ok: false, reason: 'invalid_email' };
      const weak = validateNewPassword(input.password);
      if (weak) return { ok: false, reason: weak };
      if (await store.findByEmail(email)) return { ok: false, reason: 'email_taken' };
      try {
        const account = await store.insert({
          id: randomUUID(),
          email,
          emailVerified: input.emailVerified ?? false,
          name: input.name.trim() || email,
          givenName: input.givenName,
          familyName: input.familyName,
          passwordHash: await passwords.hash(input.password),
        });
        return { ok: true, account };
      } catch (err) {
        if ((err as { code?: string }).code === '23505') return { ok: false, reason: 'email_taken' };
        throw err;
      }
    },

    /**
     * Checks an email and password. Every path that looks at a password spends one argon2
     * verification, so timing tells nothing about whether the email exists. A locked account is
     * refused even with the right password.
     */
    async signIn(email: string, password: string): Promise<SignIn> {
      if (password.length > MAX_PASSWORD_LENGTH) return { ok: false, reason: 'bad_credentials' };
      const account = await store.findByEmail(email.trim());
      if (!account) {
        await passwords.verifyDummy(password);
        return { ok: false, reason: 'bad_credentials' };
      }
      if (account.locked_until && account.locked_until > new Date()) {
        await passwords.verifyDummy(password);
        return { ok: false, reason: 'locked', lockedUntil: account.locked_until, accountId: account.id, lockedNow: false };
      }
      const valid = await passwords.verify(account.password_hash, password);
      if (!valid) {
        const lockedUntil = await store.recordFailure(account.id, lockout.threshold, lockout.lockSeconds);
        if (lockedUntil && lockedUntil > new Date()) return { ok: false, reason: 'locked', lockedUntil, accountId: account.id, lockedNow: true };
        return { ok: false, reason: 'bad_credentials', accountId: account.id };
      }
      if (account.disabled) return { ok: false, reason: 'disabled', accountId: account.id };
      await store.recordSuccess(account.id);
      return { ok: true, accountId: account.id };
    },

    async setPassword(id: string, password: string): Promise<'ok' | 'weak_password' | 'password_too_long'> {
      const weak = validateNewPassword(password);
      if (weak) return weak;
      await store.setPassword(id, await passwords.hash(password));
      return 'ok';
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
