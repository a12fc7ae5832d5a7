import { randomBytes } from 'node:crypto';
import { type Pool, type Queryable, withTransaction } from '../db/pool.ts';
import { PAGE_ROUTES } from '../http/routes.ts';
import type { OutgoingMail } from '../mail/outbox-store.ts';
import type { MailLocale } from '../mail/templates.ts';
import { type Accounts, isValidEmail } from './accounts.ts';
import type { PasswordProblem } from './password-rules.ts';
import { type AccountRow, createAccountStore } from './store.ts';
import { type AccountTokenKind, createAccountTokenStore } from './token-store.ts';

/** How long a verification link works: a day, as the verify_email mail says in hours. */
const VERIFY_TTL_SECONDS = 24 * 3600;
/** How long the link confirming a new address works: a day, as verification links. */
const EMAIL_CHANGE_TTL_SECONDS = VERIFY_TTL_SECONDS;

export interface SelfServiceSettings {
  /** PASSWORD_RESET_TTL in seconds. */
  resetTtlSeconds: number;
  /** INVITE_TTL in seconds. */
  inviteTtlSeconds: number;
}

/** Queues a mail in the transaction of `db` (an outbox over that connection). */
export type MailQueue = (db: Queryable) => { enqueue(mail: OutgoingMail): Promise<{ id: number }> };

/** Where a person came from: the sign-in of an app (its interaction), carried in the link so they can go back to it. */
export interface Origin {
  locale: MailLocale;
  interaction?: string | undefined;
}

export type PasswordChange = { ok: true; accountId: string } | { ok: false; reason: PasswordProblem | 'invalid_link' };

export type SignUp =
  /** created: false when the address already had an account (its owner was mailed instead): for the audit trail only. */
  | { ok: true; created: boolean; accountId?: string | undefined }
  | { ok: false; reason: 'invalid_email' | PasswordProblem };

export type Invite =
  /** again: the address's account was awaiting its first sign-in; a new link replaces its earlier ones. */
  | { ok: true; account: AccountRow; expiresAt: Date; again: boolean }
  | { ok: false; reason: 'email_taken' | 'invalid_email' };

export type EmailChangeRequest =
  | { ok: true; expiresAt: Date }
  | { ok: false; reason: 'invalid_email' | 'same_email' | 'email_taken' | 'not_found' };

export type EmailChange =
  | { ok: true; accountId: string; email: string }
  | { ok: false; reason: 'invalid_link' }
  | { ok: false; reason: 'email_taken'; accountId: string };

/** The mail that verifies the account's current address. */
function verificationMail(
  account: AccountRow,
  token: string,
  locale: MailLocale,
  interaction: string | undefined,
): OutgoingMail {
  return {
    recipient: account.email,
    template: 'verify_email',
    locale,
    data: {
      name: account.name,
      verifyPath: link('/verify-email', { token, interaction }),
      expiresInHours: VERIFY_TTL_SECONDS / 3600,
    },
  };
}

/** An interaction uid as the engine makes them (nanoid, 21+ url-safe characters); anything else is dropped from links. */
const INTERACTION_UID = /^[A-Za-z0-9_-]{16,64}$/;

function link(path: string, params: Record<string, string | undefined>): string {
  const query = new URLSearchParams(
    Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  return `${path}?${query.toString()}`;
}

export const interactionOf = (uid: unknown): string | undefined =>
  typeof uid === 'string' && INTERACTION_UID.test(uid) ? uid : undefined;

/**
 * The flows a person runs on their own account by mail: forgot password, invitations, email
 * verification, email change. Each one-time link is written with the mail that carries it, in one
 * transaction (the outbox): a crash between them loses neither. Passwords are checked by the accounts'
 * one set of rules (password-rules.ts) and set by the same function as `users set-password`, so a reset
 * ends every session and revokes every grant with its tokens, and clears a lockout.
 */
export function createSelfService(deps: {
  pool: Pool;
  accounts: Accounts;
  mail: MailQueue;
  settings: SelfServiceSettings;
}) {
  const { pool, accounts, mail, settings } = deps;
  const store = accounts.store;

  /** Issues a token and queues the mail carrying it, together. */
  async function issueWithMail(
    kind: AccountTokenKind,
    account: AccountRow,
    ttlSeconds: number,
    options: { email?: string; bindPassword: boolean },
    write: (token: string) => OutgoingMail,
  ): Promise<Date | undefined> {
    return withTransaction(pool, async (client) => {
      const issued = await createAccountTokenStore(client).issue({
        kind,
        accountId: account.id,
        ttlSeconds,
        email: options.email,
        bindPassword: options.bindPassword,
      });
      if (!issued) return undefined;
      await mail(client).enqueue(write(issued.token));
      return issued.expiresAt;
    });
  }

  /** Uses a token after the password is checked (a refused password leaves the link usable). */
  async function changePassword(token: string, kind: 'reset' | 'invite', password: string): Promise<PasswordChange> {
    const weak = await accounts.passwordRules.check(password);
    if (weak) return { ok: false, reason: weak };
    const used = await createAccountTokenStore(pool).use(token, kind);
    if (!used) return { ok: false, reason: 'invalid_link' };
    const result = await accounts.setPassword(used.account_id, password);
    if (!result.ok) return { ok: false, reason: result.reason === 'not_found' ? 'invalid_link' : result.reason };
    return { ok: true, accountId: used.account_id };
  }

  /** The invitation link and its mail; undefined when the account no longer awaits its first sign-in. */
  function sendInvitation(
    account: AccountRow,
    input: { locale: MailLocale; invitedBy?: string | undefined },
  ): Promise<Date | undefined> {
    return issueWithMail('invite', account, settings.inviteTtlSeconds, { bindPassword: true }, (token) => ({
      recipient: account.email,
      template: 'invitation',
      locale: input.locale,
      data: {
        name: account.name,
        acceptPath: link('/accept-invitation', { token }),
        expiresInDays: Math.round(settings.inviteTtlSeconds / 86_400),
        invitedBy: input.invitedBy,
      },
    }));
  }

  return {
    /** The shortest password the rules accept (the pages say so). */
    passwordMinLength: accounts.passwordRules.minLength,

    /**
     * Forgot password: queues a reset link for the account with this email, voiding older ones.
     * Returns whether a mail was queued, for the audit trail only: the page says the same either
     * way. A disabled account gets no link.
     */
    async requestPasswordReset(
      email: string,
      origin: Origin,
    ): Promise<{ queued: boolean; accountId?: string | undefined }> {
      const account = isValidEmail(email.trim()) ? await store.findByEmail(email.trim()) : undefined;
      if (!account || account.disabled) return { queued: false };
      const minutes = Math.round(settings.resetTtlSeconds / 60);
      const expires = await issueWithMail(
        'reset',
        account,
        settings.resetTtlSeconds,
        { bindPassword: true },
        (token) => ({
          recipient: account.email,
          template: 'password_reset',
          locale: origin.locale,
          data: {
            name: account.name,
            resetPath: link('/reset-password', { token, interaction: interactionOf(origin.interaction) }),
            expiresInMinutes: minutes,
          },
        }),
      );
      return { queued: expires !== undefined, accountId: account.id };
    },

    /**
     * Sign-up: a new account, unverified, and the mail that verifies it, in one transaction. An
     * address that already has an account gets no second one: its owner is mailed "you already
     * have an account" (`mailOwner` says whether that recipient may still be mailed), and the
     * caller answers the same either way. The password is hashed before the address is looked at,
     * so both ways take the same time.
     */
    async signUp(
      input: { email: string; name: string; password: string },
      origin: Origin,
      mailOwner: (email: string) => Promise<boolean>,
    ): Promise<SignUp> {
      const prepared = await accounts.prepare({ ...input, emailVerified: false });
      if (!prepared.ok) return prepared;
      const interaction = interactionOf(origin.interaction);
      const created = await withTransaction(pool, async (client) => {
        const account = await createAccountStore(client).insertSignedUp(prepared.account);
        if (!account) return undefined;
        const issued = await createAccountTokenStore(client).issue({
          kind: 'verify',
          accountId: account.id,
          ttlSeconds: VERIFY_TTL_SECONDS,
          email: account.email,
          bindPassword: false,
        });
        if (!issued) throw new Error('a signed-up account vanished inside its own transaction');
        await mail(client).enqueue(verificationMail(account, issued.token, origin.locale, interaction));
        return account;
      });
      if (created) return { ok: true, created: true, accountId: created.id };
      const owner = await store.findByEmail(prepared.account.email);
      if (owner && !owner.disabled && (await mailOwner(owner.email))) {
        await mail(pool).enqueue({
          recipient: owner.email,
          template: 'signup_existing_account',
          locale: origin.locale,
          data: {
            name: owner.name,
            // The account page signs them in; an app's sign-in would have expired by the time the mail is read.
            signInPath: '/account',
            resetPath: link('/forgot-password', { interaction }),
          },
        });
      }
      return { ok: true, created: false, accountId: owner?.id };
    },

    /** Whether a link of `kind` would be accepted now (to show its form); it is not used. */
    async checkLink(token: string, kind: AccountTokenKind): Promise<boolean> {
      return (await createAccountTokenStore(pool).peek(token, kind)) !== undefined;
    },

    /**
     * Sets a new password with a reset link, once: the password changes, every session ends and
     * every grant is revoked with its tokens, the lockout is cleared, and a "your password was
     * changed" mail is queued.
     */
    async resetPassword(token: string, password: string, origin: Origin): Promise<PasswordChange> {
      const result = await changePassword(token, 'reset', password);
      if (result.ok) await this.notifyPasswordChanged(result.accountId, origin.locale);
      return result;
    },

    /** Queues "your password was changed" to the account's address. */
    async notifyPasswordChanged(accountId: string, locale: MailLocale): Promise<void> {
      const account = await store.findById(accountId);
      if (!account) return;
      await mail(pool).enqueue({
        recipient: account.email,
        template: 'password_changed',
        locale,
        data: { name: account.name, changedAt: new Date().toISOString(), helpPath: '/forgot-password' },
      });
    },

    /**
     * An operator invites a person: an account without a usable password (a random one nobody
     * knows) and a link, valid INVITE_TTL, to choose one. The account is not created when the
     * mail cannot be queued. Inviting an address again while its account awaits its first sign-in
     * (the link expired or the mail was lost) mails a new link and voids the earlier ones; an
     * account that has been used is refused (email_taken): its owner resets their own password.
     */
    async invite(input: {
      email: string;
      name: string;
      locale: MailLocale;
      invitedBy?: string | undefined;
    }): Promise<Invite> {
      const created = await accounts.create({
        email: input.email,
        name: input.name,
        password: randomBytes(32).toString('base64url'),
      });
      if (!created.ok) {
        if (created.reason !== 'email_taken') return { ok: false, reason: 'invalid_email' };
        const existing = await store.findByEmail(input.email.trim());
        const expiresAt = existing && (await sendInvitation(existing, input));
        return existing && expiresAt
          ? { ok: true, account: existing, expiresAt, again: true }
          : { ok: false, reason: 'email_taken' };
      }
      const { account } = created;
      try {
        const expiresAt = await sendInvitation(account, input);
        if (!expiresAt) throw new Error('the invited account vanished before its link was issued');
        return { ok: true, account, expiresAt, again: false };
      } catch (err) {
        // No account without its invitation: the operator can invite again.
        await store.delete(account.id).catch(() => undefined);
        throw err;
      }
    },

    /** Accepting an invitation: the first password, once; following the mailed link also verifies the address. */
    async acceptInvitation(token: string, password: string): Promise<PasswordChange> {
      const result = await changePassword(token, 'invite', password);
      if (result.ok) await accounts.update(result.accountId, { emailVerified: true });
      return result;
    },

    /** Queues a verification link for the account's current address (sign-up, "send again"), voiding older ones. */
    async sendVerification(accountId: string, origin: Origin): Promise<{ queued: boolean }> {
      const account = await store.findById(accountId);
      if (!account || account.email_verified || account.disabled) return { queued: false };
      const expires = await issueWithMail(
        'verify',
        account,
        VERIFY_TTL_SECONDS,
        { email: account.email, bindPassword: false },
        (token) => verificationMail(account, token, origin.locale, interactionOf(origin.interaction)),
      );
      return { queued: expires !== undefined };
    },

    /** Whether a verification link sent earlier still works (the "verify your email" page sends one when none does). */
    hasPendingVerification: async (accountId: string) =>
      (await createAccountTokenStore(pool).pendingUntil(accountId, 'verify')) !== undefined,

    /** Until when the account's invitation link works (`users show`); undefined once used, expired or none. */
    invitationExpiresAt: (accountId: string) => createAccountTokenStore(pool).pendingUntil(accountId, 'invite'),

    /**
     * A signed-in person asks to use another address (their password already checked by the
     * page): a link to confirm it is mailed to that address, valid a day and bound to the password
     * (a password change voids it); a newer request voids the older link. Nothing changes until
     * the link is followed (confirmEmailChange). An address of another account is refused here;
     * the confirmation checks again, in the statement that changes it.
     */
    async requestEmailChange(accountId: string, newEmail: string, origin: Origin): Promise<EmailChangeRequest> {
      const email = newEmail.trim();
      if (!isValidEmail(email)) return { ok: false, reason: 'invalid_email' };
      const account = await store.findById(accountId);
      if (!account || account.disabled) return { ok: false, reason: 'not_found' };
      if (account.email.toLowerCase() === email.toLowerCase()) return { ok: false, reason: 'same_email' };
      const holder = await store.findByEmail(email);
      if (holder && holder.id !== account.id) return { ok: false, reason: 'email_taken' };
      const expiresAt = await issueWithMail(
        'email_change',
        account,
        EMAIL_CHANGE_TTL_SECONDS,
        { email, bindPassword: true },
        (token) => ({
          recipient: email,
          template: 'confirm_email_change',
          locale: origin.locale,
          data: {
            name: account.name,
            confirmPath: link(PAGE_ROUTES.account_email_confirm, { token }),
            expiresInHours: EMAIL_CHANGE_TTL_SECONDS / 3600,
          },
        }),
      );
      return expiresAt ? { ok: true, expiresAt } : { ok: false, reason: 'not_found' };
    },

    /** The new address a pending email change link would set (the account page shows it), if one works. */
    pendingEmailChangeOf: (accountId: string) => createAccountTokenStore(pool).pendingEmail(accountId, 'email_change'),

    /** The address an email change link would set, without using it (its confirmation page names it). */
    async emailChangeLink(token: string): Promise<string | undefined> {
      return (await createAccountTokenStore(pool).peek(token, 'email_change'))?.email ?? undefined;
    },

    /**
     * Following the link mailed to the new address: the link is used (once: of two clicks at once
     * one wins), then the account takes the address, verified, in one statement that refuses it if
     * another account holds it by now (the link is spent either way; nothing else changes), and
     * the old address is told, in the same transaction as the change.
     */
    async confirmEmailChange(token: string, origin: Origin): Promise<EmailChange> {
      const used = await createAccountTokenStore(pool).use(token, 'email_change');
      const email = used?.email;
      if (!used || !email) return { ok: false, reason: 'invalid_link' };
      const changed = await withTransaction(pool, async (client) => {
        const result = await createAccountStore(client).changeEmail(used.account_id, email);
        if (!result.ok) return result;
        await mail(client).enqueue({
          recipient: result.previousEmail,
          template: 'email_changed',
          locale: origin.locale,
          data: {
            name: result.name,
            newEmail: email,
            changedAt: new Date().toISOString(),
            // Not /forgot-password: its link would go to the new address. Their password still
            // opens the account page, where the address can be changed back.
            helpPath: PAGE_ROUTES.account,
          },
        });
        return result;
      });
      if (changed.ok) return { ok: true, accountId: used.account_id, email };
      return changed.reason === 'email_taken'
        ? { ok: false, reason: 'email_taken', accountId: used.account_id }
        : { ok: false, reason: 'invalid_link' };
    },

    /** Following a verification link: the address it was sent to is verified, once. */
    async verifyEmail(token: string): Promise<{ ok: true; accountId: string } | { ok: false }> {
      const used = await createAccountTokenStore(pool).use(token, 'verify');
      if (!used) return { ok: false };
      const updated = await accounts.update(used.account_id, { emailVerified: true });
      return updated.ok ? { ok: true, accountId: used.account_id } : { ok: false };
    },
  };
}
export type SelfService = ReturnType<typeof createSelfService>;
