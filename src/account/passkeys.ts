import Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountRow } from '../accounts/store.ts';
import type { AuditStore } from '../audit/store.ts';
import { PAGE_ROUTES } from '../http/routes.ts';
import { parseForm } from '../interactions/forms.ts';
import { jsonError, parseJson, stringField } from '../interactions/json.ts';
import { recoveryCodesDownload } from '../interactions/second-factor-pages.ts';
import type { Views } from '../interactions/views.ts';
import { bindingOf, MAX_PASSKEY_NAME, type Passkeys } from '../mfa/passkeys.ts';
import type { Logger } from '../observability/logger.ts';

/** The signed-in person as the account page knows them (routes.ts SignedIn). */
interface Who {
  account: AccountRow;
  session: { uid: string };
}

/** What the account page's passkey routes use of the page (routes.ts builds it). */
export interface AccountPasskeyPage<W extends Who> {
  passkeys: Pick<Passkeys, 'registrationOptions' | 'register' | 'remove'> | undefined;
  audit: AuditStore;
  views: Views;
  log: Logger;
  /** The signed-in account and its browser session, or undefined. */
  signedIn(ctx: Context): Promise<W | undefined>;
  /** Whether a JSON body's CSRF token is this session's. */
  csrfMatches(session: { uid: string }, token: unknown): boolean;
  /** A posted form of the account page, signed in and CSRF-checked; undefined after answering. */
  posted(ctx: Context): Promise<(W & { form: Record<string, string> }) | undefined>;
  /** The current password, counted toward lockout and the per-IP limit as on the sign-in page. */
  passwordMatches(ctx: Context, who: W, password: string): Promise<'ok' | 'wrong' | 'limited'>;
  /** Shows the page again with an error in the passkeys section. */
  renderError(ctx: Context, who: W, message: string, status: number): Promise<void>;
  seeOther(ctx: Context, done: 'passkey_added' | 'passkey_removed'): void;
  /** The account's first recovery codes, when its new passkey is its first factor; undefined otherwise. */
  recoveryCodesForNewFactor(accountId: string): Promise<string[] | undefined>;
}

/** Where the page goes after a change to the passkeys, with its notice. */
const passkeysDone = (done: string) => `${PAGE_ROUTES.account}?done=${done}#passkeys`;

/**
 * Passkeys on the account page. Adding one asks for the current password first (as every sensitive
 * change here does: a session left open must not be enough to plant a way in), then hands out a
 * registration challenge bound to this browser session and account; the new passkey is checked
 * against it and stored. Removing one asks for the password too. The JSON routes are driven by
 * views/assets/passkeys.js; removal is a plain form.
 */
export function accountPasskeyRoutes<W extends Who>(page: AccountPasskeyPage<W>): Router {
  /** The signed-in account of a JSON request with its CSRF token; undefined after answering 4xx. */
  async function jsonCaller(ctx: Context) {
    const t = page.views.strings(ctx);
    const who = await page.signedIn(ctx);
    if (!who) {
      jsonError(ctx, 401, 'login_required', t.account.notSignedInMessage);
      return undefined;
    }
    if (!page.csrfMatches(who.session, ctx.request.json?.csrf)) {
      jsonError(ctx, 403, 'csrf', t.error.forbiddenMessage);
      return undefined;
    }
    return who;
  }

  return new Router()
    .post(PAGE_ROUTES.account_passkey_options, parseJson, async function passkeyRegistrationOptions(ctx) {
      const { passkeys } = page;
      if (!passkeys) return;
      const who = await jsonCaller(ctx);
      if (!who) return;
      const t = page.views.strings(ctx);
      const password = stringField(ctx.request.json ?? {}, 'password', 1024);
      if (!password) return jsonError(ctx, 400, 'invalid_request', t.passkeys.addMissing);
      const check = await page.passwordMatches(ctx, who, password);
      if (check === 'limited') return jsonError(ctx, 429, 'rate_limited', t.login.rateLimited);
      if (check === 'wrong') return jsonError(ctx, 401, 'wrong_password', t.account.currentPasswordWrong);
      ctx.body = await passkeys.registrationOptions(who.account, bindingOf('account', who.session.uid));
    })
    .post(PAGE_ROUTES.account_passkey_add, parseJson, async function addPasskey(ctx) {
      const { passkeys } = page;
      if (!passkeys) return;
      const who = await jsonCaller(ctx);
      if (!who) return;
      const t = page.views.strings(ctx);
      const name = stringField(ctx.request.json ?? {}, 'name', MAX_PASSKEY_NAME * 4)?.trim();
      if (!name || name.length > MAX_PASSKEY_NAME) return jsonError(ctx, 400, 'invalid_request', t.passkeys.addMissing);
      const result = await passkeys.register({
        accountId: who.account.id,
        binding: bindingOf('account', who.session.uid),
        name,
        response: ctx.request.json?.response,
      });
      if (!result.ok) {
        page.log.info(
          { event: 'account.passkey_refused', reason: result.reason, account_id: who.account.id },
          'a new passkey was refused',
        );
        if (result.reason === 'already_registered')
          return jsonError(ctx, 409, 'already_registered', t.passkeys.alreadyAdded);
        return jsonError(
          ctx,
          400,
          result.reason === 'invalid_input' ? 'invalid_request' : result.reason,
          t.passkeys.addFailed,
        );
      }
      await page.audit.record({
        event: 'account.passkey_added',
        accountId: who.account.id,
        ip: ctx.ip,
        details: {
          passkey_id: result.passkey.id,
          device_type: result.passkey.device_type,
          backed_up: result.passkey.backed_up,
        },
      });
      page.log.info(
        { event: 'account.passkey_added', account_id: who.account.id, passkey_id: result.passkey.id },
        'passkey added on the account page',
      );
      // A first factor comes with recovery codes, as an authenticator app's does: the page shows
      // them once (views/assets/passkeys.js) before it goes on. Never stored by anyone on the way.
      const recoveryCodes = await page.recoveryCodesForNewFactor(who.account.id);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = {
        redirect: passkeysDone('passkey_added'),
        ...(recoveryCodes && {
          recovery_codes: recoveryCodes,
          recovery_codes_download: recoveryCodesDownload(recoveryCodes, t.passkeys.recoveryDownloadHeading),
        }),
      };
    })
    .post(PAGE_ROUTES.account_passkey_remove, parseForm, async function removePasskey(ctx) {
      const { passkeys } = page;
      if (!passkeys) return;
      const who = await page.posted(ctx);
      if (!who) return;
      const t = page.views.strings(ctx);
      const id = who.form.passkey ?? '';
      const password = who.form.password ?? '';
      if (!id || !password) return page.renderError(ctx, who, t.passkeys.removeMissing, 400);
      if (!/^[0-9a-f-]{36}$/.test(id)) ctx.throw(400, 'no such passkey');
      const check = await page.passwordMatches(ctx, who, password);
      if (check === 'limited') return page.renderError(ctx, who, t.login.rateLimited, 429);
      if (check === 'wrong') return page.renderError(ctx, who, t.account.currentPasswordWrong, 401);
      const removed = await passkeys.remove(who.account.id, id);
      if (removed === undefined) ctx.throw(400, 'no such passkey');
      await page.audit.record({
        event: 'account.passkey_removed',
        accountId: who.account.id,
        ip: ctx.ip,
        details: { passkey_id: id },
      });
      page.log.info(
        { event: 'account.passkey_removed', account_id: who.account.id, passkey_id: id },
        'passkey removed',
      );
      page.seeOther(ctx, 'passkey_removed');
    });
}
