import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { type Accounts, isValidEmail } from '../accounts/accounts.ts';
import type { SelfService } from '../accounts/self-service.ts';
import type { AccountRow } from '../accounts/store.ts';
import type { AuditStore } from '../audit/store.ts';
import type { Pool } from '../db/pool.ts';
import { PAGE_ROUTES, ROUTES } from '../http/routes.ts';
import { localeOf } from '../interactions/flow-pages.ts';
import { type Csrf, parseForm } from '../interactions/forms.ts';
import { renderForbidden } from '../interactions/interaction.ts';
import { recoveryCodesDownload } from '../interactions/second-factor-pages.ts';
import { PASSKEY_SCRIPTS, type Views } from '../interactions/views.ts';
import type { Passkeys } from '../mfa/passkeys.ts';
import type { SecondFactors, TotpSetup } from '../mfa/second-factors.ts';
import type { Logger } from '../observability/logger.ts';
import type { PayloadStore } from '../oidc/payload-store.ts';
import { ACCOUNT_CLIENT_ID, accountCallbackUri } from '../oidc/provider.ts';
import { sha256 } from '../secret-box.ts';
import type { MailLimits } from '../security/mail-limits.ts';
import { accountPasskeyRoutes } from './passkeys.ts';
import type { AccountPageStore, EndedSession } from './store.ts';
import { deviceOf } from './user-agent.ts';

/**
 * /account: the person's own page. It reads the engine's browser session (Session.get on our Koa
 * context: the engine's own signed session cookie, path /) instead of being a client that redeems
 * codes and keeps a session of its own, as Keycloak's account console does. Why: one session per
 * browser, not two that can disagree. Signing out (at /logout or from another browser on this page)
 * ends the page's access at once, "sign out all other sessions" can keep exactly this browser,
 * and there is no second cookie, token store or refresh logic to secure. Signing in still goes
 * through /authorize and our sign-in page (lockout, rate limits, audit) with a static first-party
 * client (ACCOUNT_CLIENT_ID) whose callback only destroys the unused code.
 *
 * Sensitive changes (password, email, deletion) always ask for the current password: that is the
 * re-authentication "a recent sign-in or the password again" calls for, whatever the session's age.
 * A new email address takes effect only from the link mailed to it (email-change.ts).
 */
export interface AccountPageDeps {
  provider: () => Provider;
  accounts: Accounts;
  payloads: Pick<PayloadStore, 'grantsOfAccount' | 'revokeGrantsOfClient'>;
  store: AccountPageStore;
  /** Email change: the link mailed to the new address, and its confirmation (email-change.ts). */
  selfService: Pick<
    SelfService,
    'requestEmailChange' | 'pendingEmailChangeOf' | 'emailChangeLink' | 'confirmEmailChange'
  >;
  /** The limit on mails to one recipient (forgot password's): the new address counts. */
  mailLimits: Pick<MailLimits, 'allowRecipient'>;
  audit: AuditStore;
  views: Views;
  csrf: Csrf;
  log: Logger;
  pool: Pool;
  issuer: string;
  deletionEnabled: boolean;
  /** Whether a new address can be confirmed: its link must reach it (config.mail.deliverable). */
  emailChangeEnabled: boolean;
  /** Authenticator apps and recovery codes (mfa/). */
  secondFactors: SecondFactors;
  /** Passkeys (./passkeys.ts): listed, added and removed here; absent, the section is not shown. */
  passkeys?: Pick<Passkeys, 'list' | 'registrationOptions' | 'register' | 'remove'> | undefined;
  /** Per-IP limiter for password checks (the sign-in page's). */
  allowLoginAttempt?: (ctx: Context) => Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }>;
}

/** Longest profile field we keep (a name, given or family name). */
const MAX_NAME = 200;
const DONE = new Set([
  'profile',
  'email',
  'password',
  'app',
  'session',
  'sessions',
  'totp',
  'totp_removed',
  'passkey_added',
  'passkey_removed',
]);
type Section = 'profile' | 'email' | 'password' | 'mfa' | 'passkeys' | 'apps' | 'sessions' | 'delete';
/** Where a done message shows: the section it is about. */
const DONE_ANCHOR: Record<string, string> = {
  app: 'apps',
  session: 'sessions',
  totp: 'mfa',
  totp_removed: 'mfa',
  passkey_added: 'passkeys',
  passkey_removed: 'passkeys',
};

type EngineSession = Awaited<ReturnType<Provider['Session']['get']>>;
interface SignedIn {
  session: EngineSession;
  account: AccountRow;
  sessionUid: string;
}

/**
 * The engine's own sender of logout tokens, the one its end_session action calls (oidc-provider
 * lib/models/client.js): it signs the token as /logout does. Not in the type definitions.
 */
type LogoutSender = { backchannelLogout(sub: string, sid: string): Promise<void> };

/** The CSRF token of the account page's forms: bound to this browser session. */
const csrfSubject = (session: Pick<EngineSession, 'uid'>) => `account:${session.uid}`;

export function accountRoutes(deps: AccountPageDeps): Router {
  /**
   * Back-channel logout for sessions ended here, as /logout sends it: each app the session had
   * signed in to and that registered a backchannel_logout_uri gets a logout token with its sid.
   * Delivery runs in the background with retries (oidc/backchannel.ts), so the page does not wait.
   */
  async function tellApps(accountId: string, ended: EndedSession[]): Promise<void> {
    const provider = deps.provider();
    for (const { authorizations } of ended) {
      for (const [clientId, { sid }] of Object.entries(authorizations ?? {})) {
        const client = await provider.Client.find(clientId);
        if (!client?.backchannelLogoutUri || !sid) continue;
        await (client as unknown as LogoutSender)
          .backchannelLogout(accountId, sid)
          .catch((err: unknown) =>
            deps.log.warn(
              { event: 'backchannel.failed', client_id: clientId, err },
              'back-channel logout for a session ended on the account page failed',
            ),
          );
      }
    }
  }

  const { accounts, store, audit, views, csrf, log } = deps;

  async function signedIn(ctx: Context): Promise<SignedIn | undefined> {
    const session = await deps.provider().Session.get(ctx as never);
    if (!session.accountId) return undefined;
    const account = await accounts.store.findById(session.accountId);
    if (!account || account.disabled) return undefined;
    return { session, account, sessionUid: sha256(session.uid) };
  }

  function signInUrl(): string {
    const params = new URLSearchParams({
      client_id: ACCOUNT_CLIENT_ID,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: accountCallbackUri(deps.issuer),
      // PKCE is required of a public client; the code is never redeemed, so the verifier is dropped.
      code_challenge: randomBytes(32).toString('base64url'),
      code_challenge_method: 'S256',
      state: randomBytes(16).toString('base64url'),
    });
    return `${ROUTES.authorization}?${params}`;
  }

  /** The form of a POST to the account page, once the browser is signed in and the CSRF token checks out. */
  async function posted(ctx: Context): Promise<(SignedIn & { form: Record<string, string> }) | undefined> {
    const who = await signedIn(ctx);
    const form = ctx.request.form ?? {};
    if (!who || !csrf.verify(csrfSubject(who.session), form.csrf)) {
      await renderForbidden(ctx, views);
      return undefined;
    }
    // PostgreSQL text cannot hold NUL; nothing a person types has one.
    if (Object.values(form).some((value) => value.includes('\0'))) ctx.throw(400, 'a form field holds a NUL character');
    return { ...who, form };
  }

  async function render(
    ctx: Context,
    who: SignedIn,
    options: { error?: { section: Section; message: string }; status?: number; values?: Record<string, string> } = {},
  ) {
    const t = views.strings(ctx);
    const provider = deps.provider();
    const [grants, sessions, activity, pendingEmail, factors, passkeys] = await Promise.all([
      deps.payloads.grantsOfAccount(who.account.id),
      store.sessionsOf(who.account.id),
      audit.ofAccount(who.account.id, 20),
      deps.selfService.pendingEmailChangeOf(who.account.id),
      deps.secondFactors.summary(who.account.id),
      deps.passkeys?.list(who.account.id),
    ]);
    const byClient = new Map<
      string,
      { clientId: string; scopes: Set<string>; apis: Map<string, Set<string>>; since: Date }
    >();
    for (const grant of grants) {
      if (grant.client_id === ACCOUNT_CLIENT_ID) continue;
      const app = byClient.get(grant.client_id) ?? {
        clientId: grant.client_id,
        scopes: new Set(),
        apis: new Map(),
        since: grant.created_at,
      };
      for (const scope of (grant.scope ?? '').split(' ').filter(Boolean)) app.scopes.add(scope);
      for (const [api, scopes] of Object.entries(grant.resources ?? {})) {
        const set = app.apis.get(api) ?? new Set();
        for (const scope of String(scopes).split(' ').filter(Boolean)) set.add(scope);
        app.apis.set(api, set);
      }
      if (grant.created_at < app.since) app.since = grant.created_at;
      byClient.set(grant.client_id, app);
    }
    const apps = await Promise.all(
      [...byClient.values()].map(async (app) => {
        const client = await provider.Client.find(app.clientId).catch(() => undefined);
        return {
          clientId: app.clientId,
          name: (client?.clientName as string | undefined) ?? app.clientId,
          scopes: [...app.scopes].map((scope) => t.consent.scopes[scope]?.[0] ?? scope),
          apis: [...app.apis].map(([api, scopes]) => ({ api, scopes: [...scopes].join(', ') })),
          since: app.since,
        };
      }),
    );
    const date = new Intl.DateTimeFormat(t.lang, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
    const when = (at: Date | null) => (at ? `${date.format(at)} UTC` : t.account.unknown);
    const done = typeof ctx.query.done === 'string' && DONE.has(ctx.query.done) ? ctx.query.done : undefined;
    await views.render(
      ctx,
      'account',
      {
        title: t.account.title,
        wide: true,
        csrf: csrf.tokenFor(csrfSubject(who.session)),
        account: who.account,
        pendingEmail,
        factors,
        values: options.values ?? {},
        done:
          done === 'passkey_added'
            ? t.passkeys.added
            : done === 'passkey_removed'
              ? t.passkeys.removed
              : done
                ? t.account.done[done as keyof typeof t.account.done]
                : undefined,
        error: options.error,
        passwordMin: accounts.passwordRules.minLength,
        passwordMax: accounts.passwordRules.maxLength,
        apps: apps.map((app) => ({ ...app, since: when(app.since) })),
        sessions: sessions.map((row) => {
          const device = deviceOf(row.user_agent ?? '');
          return {
            id: row.session_uid,
            current: row.session_uid === who.sessionUid,
            device: t.account.device(device.browser, device.system),
            ip: row.ip ?? t.account.unknown,
            lastSeen: when(row.last_seen_at),
            signedIn: when(row.signed_in_at),
          };
        }),
        // Signing in to this page is not "an app": its implied consent is left out.
        activity: activity
          .filter((row) => !(row.event === 'consent.implied' && row.client_id === ACCOUNT_CLIENT_ID))
          .map((row) => ({ what: t.account.events[row.event] ?? row.event, at: when(row.at), ip: row.ip ?? '' })),
        deletionEnabled: deps.deletionEnabled,
        emailChangeEnabled: deps.emailChangeEnabled,
        // The passkeys section, and the scripts that add a passkey (views/assets/passkeys.js).
        passkeys: passkeys?.map((passkey) => ({
          id: passkey.id,
          name: passkey.name,
          created: when(passkey.created_at),
          lastUsed: passkey.last_used_at ? t.passkeys.lastUsed(when(passkey.last_used_at)) : t.passkeys.neverUsed,
          synced: passkey.backed_up,
        })),
        passkeyRoutes: { options: PAGE_ROUTES.account_passkey_options, add: PAGE_ROUTES.account_passkey_add },
        scripts: passkeys ? PASSKEY_SCRIPTS : undefined,
      },
      options.status ?? 200,
    );
  }

  /** "Set up an authenticator app": the QR code, the key and the link, and the code to confirm it. */
  async function renderTotpSetup(ctx: Context, who: SignedIn, setup: TotpSetup, error?: string) {
    const t = views.strings(ctx);
    await views.render(
      ctx,
      'totp-setup',
      {
        title: t.mfa.setupTitle,
        lede: t.mfa.setupLede,
        setup,
        action: PAGE_ROUTES.account_totp_confirm,
        csrf: csrf.tokenFor(csrfSubject(who.session)),
        fields: { factor_id: setup.factorId },
        error,
        cancel: undefined,
        backHref: `${PAGE_ROUTES.account}#mfa`,
      },
      error ? 400 : 200,
    );
  }

  /** New recovery codes, shown once (and as a text file to download from the page itself). */
  async function renderRecoveryCodes(ctx: Context, codes: string[]) {
    const t = views.strings(ctx);
    await views.render(ctx, 'recovery-codes', {
      title: t.mfa.recoveryTitle,
      codes,
      download: recoveryCodesDownload(codes, t.mfa.downloadHeading),
      continueForm: undefined,
      backHref: `${PAGE_ROUTES.account}#mfa`,
    });
  }

  const seeOther = (ctx: Context, done?: string) => {
    ctx.status = 303;
    ctx.redirect(done ? `${PAGE_ROUTES.account}?done=${done}#${DONE_ANCHOR[done] ?? done}` : PAGE_ROUTES.account);
  };

  /** Checks the current password (it counts toward lockout and the per-address limit, as on the sign-in page). */
  async function passwordMatches(ctx: Context, who: SignedIn, password: string): Promise<'ok' | 'wrong' | 'limited'> {
    const limit = await deps.allowLoginAttempt?.(ctx);
    if (limit && !limit.allowed) {
      ctx.set('Retry-After', String(limit.retryAfterSeconds));
      return 'limited';
    }
    const result = await accounts.signIn(who.account.email, password);
    if (result.ok) return 'ok';
    await audit.record({
      event: 'account.password_check_failed',
      accountId: who.account.id,
      ip: ctx.ip,
      details: { reason: result.reason },
    });
    return 'wrong';
  }

  /** The page again, with `message` in `section`: how a refused form is answered. */
  const failIn =
    (ctx: Context, who: SignedIn, section: Section) =>
    (message: string, status = 400) =>
      render(ctx, who, { error: { section, message }, status });

  /**
   * The current password, asked for by every change to the ways in: true when it matched;
   * otherwise false, and the refusal (wrong, or too many tries) is already shown through `fail`.
   */
  async function confirmedByPassword(
    ctx: Context,
    who: SignedIn,
    password: string,
    fail: (message: string, status: number) => Promise<void>,
  ): Promise<boolean> {
    const check = await passwordMatches(ctx, who, password);
    if (check === 'ok') return true;
    const t = views.strings(ctx);
    await (check === 'limited' ? fail(t.login.rateLimited, 429) : fail(t.account.currentPasswordWrong, 401));
    return false;
  }

  return new Router()
    .get(PAGE_ROUTES.account, async function showAccount(ctx) {
      const who = await signedIn(ctx);
      if (!who) return ctx.redirect(signInUrl());
      await render(ctx, who);
    })
    .get(PAGE_ROUTES.account_callback, async function accountCallback(ctx) {
      // The code is not needed (the engine's session is), so it is destroyed rather than left to expire.
      if (typeof ctx.query.code === 'string' && ctx.query.code.length <= 200) {
        const code = await deps
          .provider()
          .AuthorizationCode.find(ctx.query.code)
          .catch(() => undefined);
        if (code?.clientId === ACCOUNT_CLIENT_ID) await code.destroy();
      }
      if (typeof ctx.query.error === 'string') {
        const t = views.strings(ctx);
        return views.render(
          ctx,
          'error',
          {
            title: t.account.notSignedIn,
            heading: t.account.notSignedIn,
            message: t.account.notSignedInMessage,
            code: null,
          },
          400,
        );
      }
      seeOther(ctx);
    })
    .post(PAGE_ROUTES.account_profile, parseForm, async function updateProfile(ctx) {
      const who = await posted(ctx);
      if (!who) return;
      const t = views.strings(ctx);
      const [name, givenName, familyName] = ['name', 'given_name', 'family_name'].map((key) =>
        (who.form[key] ?? '').trim(),
      );
      if (!name || [name, givenName, familyName].some((value) => value!.length > MAX_NAME)) {
        return render(ctx, who, {
          error: { section: 'profile', message: t.account.profileInvalid(MAX_NAME) },
          status: 400,
          values: who.form,
        });
      }
      const result = await accounts.update(who.account.id, { name, givenName, familyName });
      if (!result.ok) return seeOther(ctx);
      await audit.record({ event: 'account.profile_updated', accountId: who.account.id, ip: ctx.ip });
      seeOther(ctx, 'profile');
    })
    .post(PAGE_ROUTES.account_email, parseForm, async function requestEmailChange(ctx) {
      if (!deps.emailChangeEnabled) return;
      const who = await posted(ctx);
      if (!who) return;
      const t = views.strings(ctx);
      const email = (who.form.new_email ?? '').trim();
      const password = who.form.password ?? '';
      const fail = (message: string, status = 400) =>
        render(ctx, who, { error: { section: 'email', message }, status, values: { new_email: email.slice(0, 254) } });
      if (!email || !password) return fail(t.account.emailMissing);
      // A malformed address costs no password check and no lockout count.
      if (!isValidEmail(email)) return fail(t.account.emailInvalid);
      if (!(await confirmedByPassword(ctx, who, password, fail))) return;
      const recipient = await deps.mailLimits.allowRecipient(email);
      if (!recipient.allowed) {
        ctx.set('Retry-After', String(recipient.retryAfterSeconds));
        return fail(t.account.emailTooMany, 429);
      }
      const result = await deps.selfService.requestEmailChange(who.account.id, email, { locale: localeOf(ctx, views) });
      if (!result.ok) {
        if (result.reason === 'not_found') return seeOther(ctx);
        return result.reason === 'email_taken'
          ? fail(t.account.emailTaken, 409)
          : fail(result.reason === 'same_email' ? t.account.emailSame : t.account.emailInvalid);
      }
      await audit.record({ event: 'user.email_change_requested', accountId: who.account.id, ip: ctx.ip });
      log.info(
        { event: 'user.email_change_requested', account_id: who.account.id },
        'email change asked for on the account page: a link was mailed to the new address',
      );
      seeOther(ctx, 'email');
    })
    .post(PAGE_ROUTES.account_password, parseForm, async function changePassword(ctx) {
      const who = await posted(ctx);
      if (!who) return;
      const t = views.strings(ctx);
      const current = who.form.current_password ?? '';
      const next = who.form.new_password ?? '';
      const fail = failIn(ctx, who, 'password');
      if (!current || !next) return fail(t.account.passwordMissing);
      // The new password's rules first: a refused one costs no password check and no lockout count.
      const problem = await accounts.passwordRules.check(next);
      if (problem) return fail(t.account.passwordProblems[problem](accounts.passwordRules.minLength));
      if (!(await confirmedByPassword(ctx, who, current, fail))) return;
      // Every other session ends and every grant is revoked with its tokens; this browser stays
      // signed in (so not signOutEverywhere's cut-off, which would end this session too).
      const result = await accounts.setPassword(who.account.id, next, { keepSessions: true });
      if (result.ok) await store.signOutOthers(who.account.id, who.sessionUid);
      if (!result.ok)
        return fail(
          result.reason === 'not_found'
            ? t.error.serverMessage
            : t.account.passwordProblems[result.reason](accounts.passwordRules.minLength),
        );
      await audit.record({
        event: 'account.password_changed',
        accountId: who.account.id,
        ip: ctx.ip,
        details: { revoked_grants: result.revokedGrants },
      });
      log.info(
        { event: 'account.password_changed', account_id: who.account.id },
        'password changed on the account page',
      );
      seeOther(ctx, 'password');
    })
    .post(PAGE_ROUTES.account_totp, parseForm, async function startTotpSetup(ctx) {
      const who = await posted(ctx);
      if (!who) return;
      // A new app replaces the old one: as every change to the ways in, it needs the password.
      const t = views.strings(ctx);
      const fail = failIn(ctx, who, 'mfa');
      const password = who.form.password ?? '';
      if (!password) return fail(t.mfa.passwordMissing);
      if (!(await confirmedByPassword(ctx, who, password, fail))) return;
      const setup = await deps.secondFactors.startTotp(who.account);
      await renderTotpSetup(ctx, who, setup);
    })
    .post(PAGE_ROUTES.account_totp_confirm, parseForm, async function confirmTotpSetup(ctx) {
      const who = await posted(ctx);
      if (!who) return;
      const t = views.strings(ctx);
      const factorId = (who.form.factor_id ?? '').slice(0, 64);
      const result = await deps.secondFactors.confirmTotp(who.account.id, factorId, who.form.code ?? '');
      if (!result.ok) {
        const setup =
          result.reason === 'invalid_code' ? await deps.secondFactors.pendingTotp(who.account, factorId) : undefined;
        if (!setup) return render(ctx, who, { error: { section: 'mfa', message: t.mfa.setupExpired }, status: 400 });
        return renderTotpSetup(ctx, who, setup, t.mfa.invalidSetupCode);
      }
      log.info({ event: 'mfa.totp_added', account_id: who.account.id }, 'authenticator app set up on the account page');
      if (!result.recoveryCodes) return seeOther(ctx, 'totp');
      await renderRecoveryCodes(ctx, result.recoveryCodes);
    })
    .post(PAGE_ROUTES.account_totp_remove, parseForm, async function removeTotp(ctx) {
      const who = await posted(ctx);
      if (!who) return;
      const t = views.strings(ctx);
      const fail = failIn(ctx, who, 'mfa');
      const password = who.form.password ?? '';
      if (!password) return fail(t.mfa.passwordMissing);
      if (!(await confirmedByPassword(ctx, who, password, fail))) return;
      await deps.secondFactors.removeTotp(who.account.id);
      log.info(
        { event: 'mfa.totp_removed', account_id: who.account.id },
        'authenticator app removed on the account page',
      );
      seeOther(ctx, 'totp_removed');
    })
    .post(PAGE_ROUTES.account_recovery_codes, parseForm, async function regenerateRecoveryCodes(ctx) {
      const who = await posted(ctx);
      if (!who) return;
      const t = views.strings(ctx);
      const fail = failIn(ctx, who, 'mfa');
      // Codes stand in for a factor: without one there is nothing for them to stand in for.
      if (!(await deps.secondFactors.summary(who.account.id)).hasFactor) return seeOther(ctx);
      const password = who.form.password ?? '';
      if (!password) return fail(t.mfa.passwordMissing);
      if (!(await confirmedByPassword(ctx, who, password, fail))) return;
      const codes = await deps.secondFactors.regenerateRecoveryCodes(who.account.id);
      await renderRecoveryCodes(ctx, codes);
    })
    .post(PAGE_ROUTES.account_app_remove, parseForm, async function removeApp(ctx) {
      const who = await posted(ctx);
      if (!who) return;
      const clientId = who.form.client_id ?? '';
      if (!clientId || clientId.length > 200 || clientId === ACCOUNT_CLIENT_ID) ctx.throw(400, 'no such app');
      const removed = await deps.payloads.revokeGrantsOfClient(who.account.id, clientId);
      await audit.record({
        event: 'account.app_removed',
        accountId: who.account.id,
        clientId,
        ip: ctx.ip,
        details: { revoked_grants: removed },
      });
      seeOther(ctx, 'app');
    })
    .post(PAGE_ROUTES.account_session_end, parseForm, async function endSession(ctx) {
      const who = await posted(ctx);
      if (!who) return;
      const id = who.form.session ?? '';
      if (!/^[A-Za-z0-9_-]{1,100}$/.test(id)) ctx.throw(400, 'no such session');
      // This browser's own session ends at /logout, which also tells its apps.
      if (id === who.sessionUid) return seeOther(ctx);
      const ended = await store.endSession(who.account.id, id);
      if (ended.length) {
        await audit.record({ event: 'account.session_ended', accountId: who.account.id, ip: ctx.ip });
        await tellApps(who.account.id, ended);
      }
      seeOther(ctx, 'session');
    })
    .post(PAGE_ROUTES.account_sessions_end_others, parseForm, async function endOtherSessions(ctx) {
      const who = await posted(ctx);
      if (!who) return;
      const ended = await store.endOtherSessions(who.account.id, who.sessionUid);
      await audit.record({
        event: 'account.sessions_ended',
        accountId: who.account.id,
        ip: ctx.ip,
        details: { ended: ended.length },
      });
      await tellApps(who.account.id, ended);
      seeOther(ctx, 'sessions');
    })
    .post(PAGE_ROUTES.account_delete, parseForm, async function deleteAccount(ctx) {
      const who = await posted(ctx);
      if (!who) return;
      const t = views.strings(ctx);
      if (!deps.deletionEnabled) ctx.throw(403, t.account.deleteDisabled);
      const fail = failIn(ctx, who, 'delete');
      const password = who.form.password ?? '';
      if (!password || who.form.confirm !== 'yes') return fail(t.account.deleteMissing);
      if (!(await confirmedByPassword(ctx, who, password, fail))) return;
      await accounts.delete(who.account.id);
      await audit.record({ event: 'account.deleted', accountId: who.account.id, ip: ctx.ip });
      log.info({ event: 'account.deleted', account_id: who.account.id }, 'account deleted by its owner');
      await views.render(ctx, 'account-deleted', { title: t.account.deletedTitle });
    })
    .use(
      accountPasskeyRoutes<SignedIn>({
        passkeys: deps.passkeys,
        audit,
        views,
        log,
        signedIn,
        csrfMatches: (session, token) => csrf.verify(csrfSubject(session), token),
        posted,
        passwordMatches,
        renderError: (ctx, who, message, status) =>
          render(ctx, who, { error: { section: 'passkeys', message }, status }),
        seeOther,
        recoveryCodesForNewFactor: (accountId) => deps.secondFactors.recoveryCodesForNewFactor(accountId),
      }).routes(),
    );
}
