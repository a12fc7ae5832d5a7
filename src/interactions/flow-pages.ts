import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { interactionOf, type SelfService } from '../accounts/self-service.ts';
import type { AccountStore } from '../accounts/store.ts';
import type { AuditStore } from '../audit/store.ts';
import type { Config } from '../config.ts';
import { type MailLocale, mailLocale } from '../mail/templates.ts';
import type { Logger } from '../observability/logger.ts';
import type { MailLimits } from '../security/mail-limits.ts';
import type { Csrf } from './forms.ts';
import { renderForbidden } from './interaction.ts';
import type { Views } from './views.ts';

/** What the pages of the person's own flows (forgot password, invitations, verification, sign-up) use. */
export interface FlowDeps {
  provider: () => Provider;
  selfService: SelfService;
  accountStore: AccountStore;
  mailLimits: MailLimits;
  views: Views;
  csrf: Csrf;
  audit: AuditStore;
  log: Logger;
  flows: Config['flows'];
}

/**
 * These pages are not tied to an interaction (a mailed link opens anywhere), so their CSRF token
 * is bound to a random cookie of the browser instead (double submit, signed by our HMAC key): a
 * cross-site form cannot read the cookie, so it cannot send the matching token.
 */
const CSRF_COOKIE = 'latchkey.csrf';
const COOKIE_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** The form token for this browser, setting its cookie on the first page. */
export function formToken(ctx: Context, csrf: Csrf): string {
  let value = ctx.cookies.get(CSRF_COOKIE);
  if (!value || !COOKIE_SHAPE.test(value)) {
    value = randomBytes(32).toString('base64url');
    ctx.cookies.set(CSRF_COOKIE, value, {
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.protocol === 'https',
      path: '/',
      signed: false,
      overwrite: true,
    });
  }
  return csrf.tokenFor(`page:${value}`);
}

/**
 * The posted form once its CSRF token checks out (else the forbidden page, 403, and undefined).
 * A field holding a NUL character is refused with 400: no text of ours carries one, and the
 * database cannot store it.
 */
export async function postedForm(
  ctx: Context,
  deps: Pick<FlowDeps, 'views' | 'csrf'>,
): Promise<Record<string, string> | undefined> {
  const form = ctx.request.form ?? {};
  const cookie = ctx.cookies.get(CSRF_COOKIE);
  if (!cookie || !COOKIE_SHAPE.test(cookie) || !deps.csrf.verify(`page:${cookie}`, form.csrf)) {
    await renderForbidden(ctx, deps.views);
    return undefined;
  }
  if (Object.values(form).some((value) => value.includes('\u0000')))
    ctx.throw(400, 'a form field holds a NUL character');
  return form;
}

/** The mail language for this request: the page's. */
export const localeOf = (ctx: Context, views: Views): MailLocale => mailLocale(views.strings(ctx).lang);

/** The sign-in this person came from, if it is still open: where "continue" leads, and the app's name. */
export async function continueTo(
  provider: Provider,
  uid: unknown,
): Promise<{ href: string; clientName: string } | undefined> {
  const interaction = interactionOf(uid);
  if (!interaction) return undefined;
  const found = await provider.Interaction.find(interaction);
  if (!found) return undefined;
  const clientId = String(found.params.client_id ?? '');
  const client = clientId ? await provider.Client.find(clientId) : undefined;
  return { href: `/interaction/${interaction}`, clientName: (client?.clientName as string | undefined) ?? clientId };
}

/**
 * Answers no sooner than `ms` after `started`: a page that must not tell whether an address has an
 * account takes the same time either way (the work for a real account, a token and a queued mail,
 * is a few milliseconds; the floor covers it many times).
 */
export async function notBefore(started: number, ms: number): Promise<void> {
  const left = started + ms - performance.now();
  if (left > 0) await sleep(left);
}

/** The page that says a one-time link no longer works (used, expired, replaced, or never ours). */
export async function renderInvalidLink(
  ctx: Context,
  views: Views,
  again: { href: string; label: string } | undefined,
) {
  const t = views.strings(ctx);
  await views.render(
    ctx,
    'notice',
    {
      title: t.flows.invalidLink,
      heading: t.flows.invalidLink,
      message: t.flows.invalidLinkMessage,
      icon: 'danger',
      links: again ? [again] : [],
    },
    400,
  );
}

/** A short text field: trimmed, at most `max` characters (longer is cut: the rules below then refuse it). */
export const field = (form: Record<string, string>, name: string, max = 254): string =>
  (form[name] ?? '').trim().slice(0, max + 1);
