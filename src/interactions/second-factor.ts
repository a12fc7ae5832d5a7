import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { REQUIRE_MFA } from '../clients/require-mfa.ts';
import { PAGE_ROUTES } from '../http/routes.ts';
import { mailLocale } from '../mail/templates.ts';
import { type Amr, authenticationOf } from '../mfa/acr.ts';
import { bindingOf, type PasskeyAssertion } from '../mfa/passkeys.ts';
import { EMAIL_NOT_VERIFIED, SECOND_FACTOR_REQUIRED } from '../oidc/provider.ts';
import { parseForm } from './forms.ts';
import { type InteractionDetails, loadPostedInteraction } from './interaction.ts';
import { jsonError, loadJsonInteraction, parseJson } from './json.ts';
import {
  type PendingSecondFactor,
  pendingOf,
  renderEnrol,
  renderRecoveryCodes,
  renderVerify,
  type SecondFactorDeps,
  savePending,
  see,
} from './second-factor-pages.ts';

/**
 * The second step of a sign-in (issue 16): after a right password, a person with an authenticator
 * app (or a passkey) is asked for it here; a person without one, when the app or the operator
 * requires two factors, sets one up here first. The same page serves a step-up: an app asking for
 * acr_values=urn:latchkey:acr:mfa inside a session signed in with a password alone
 * (oidc/provider.ts SECOND_FACTOR_REQUIRED) gets it for the session's account, without the
 * password again.
 *
 * Which account is being signed in is kept server-side, on the engine's Interaction (its `result`,
 * which the engine stores with it and which interactionFinished replaces), never in a form field.
 */

async function clientRequiresMfa(provider: Provider, interaction: InteractionDetails): Promise<boolean> {
  const client = await provider.Client.find(String(interaction.params.client_id));
  return client?.[REQUIRE_MFA] === true;
}

/** The engine's login result for a sign-in finished with `used`: amr and acr by mfa/acr.ts. */
function loginResult(pending: PendingSecondFactor, used: Amr[]) {
  const { amr, acr } = authenticationOf([...pending.amr, ...used]);
  return { login: { accountId: pending.accountId, ts: pending.loginTs, amr, acr, remember: true } };
}

/** Lets the engine finish the sign-in (a redirect to its resume URL). */
async function finish(ctx: Context, deps: SecondFactorDeps, pending: PendingSecondFactor, used: Amr[]) {
  await deps
    .provider()
    .interactionFinished(ctx.req, ctx.res, loginResult(pending, used), { mergeWithLastSubmission: false });
  ctx.respond = false;
}

/**
 * The second step a sign-in takes after a right password (login.ts), or undefined when the password
 * is enough: a person with a factor is always asked for it ('verify'); a person without one sets
 * one up ('enrol') when this authorization needs two factors.
 */
export async function secondStepAfterPassword(
  deps: SecondFactorDeps,
  interaction: InteractionDetails,
  hasSecondFactor: boolean,
): Promise<'verify' | 'enrol' | undefined> {
  if (hasSecondFactor) return 'verify';
  const required = deps.secondFactorPolicy.required({
    acrValues: interaction.params.acr_values,
    clientRequiresMfa: await clientRequiresMfa(deps.provider(), interaction),
  });
  return required ? 'enrol' : undefined;
}

/** Sends the browser on to the second step of a sign-in whose password was right. */
export async function startSecondStep(
  ctx: Context,
  interaction: InteractionDetails,
  login: { accountId: string; loginTs: number },
  stage: 'verify' | 'enrol',
): Promise<void> {
  await savePending(interaction, { accountId: login.accountId, loginTs: login.loginTs, amr: ['pwd'], stage });
  see(ctx, interaction.uid);
}

/** Reasons the engine may give for a login prompt that a second factor alone answers. */
const STEP_UP_ONLY = new Set([SECOND_FACTOR_REQUIRED, EMAIL_NOT_VERIFIED]);

/**
 * GET /interaction/:uid for a sign-in at its second step, or a step-up in an existing session
 * (the login prompt's only reason is SECOND_FACTOR_REQUIRED: no max_age, no prompt=login, the
 * session's account found). True when it rendered a page.
 */
export async function showSecondStep(
  ctx: Context,
  deps: SecondFactorDeps,
  interaction: InteractionDetails,
): Promise<boolean> {
  let pending = pendingOf(interaction);
  const { prompt, session } = interaction;
  if (
    !pending &&
    prompt.name === 'login' &&
    session?.accountId &&
    prompt.reasons.includes(SECOND_FACTOR_REQUIRED) &&
    prompt.reasons.every((reason) => STEP_UP_ONLY.has(reason))
  ) {
    const summary = await deps.secondFactors.summary(session.accountId);
    // The session's own login time stays: only a second factor is given now, so a later max_age
    // still asks for the password typed then.
    const engineSession = session.cookie ? await deps.provider().Session.find(session.cookie) : undefined;
    pending = {
      accountId: session.accountId,
      loginTs: engineSession?.loginTs ?? Math.floor(Date.now() / 1000),
      amr: (session.amr as Amr[] | undefined) ?? ['pwd'],
      stage: summary.hasFactor ? 'verify' : 'enrol',
    };
    await savePending(interaction, pending);
  }
  if (!pending) return false;
  if (pending.stage === 'verify') await renderVerify(ctx, deps, interaction, pending);
  else if (pending.stage === 'enrol') await renderEnrol(ctx, deps, interaction, pending);
  else await renderRecoveryCodes(ctx, deps, interaction, undefined);
  return true;
}

/** POST /interaction/:uid/second-factor and /enrol. */
export function secondFactorRoutes(deps: SecondFactorDeps): Router {
  const { views, csrf, log, audit } = deps;

  /** The audit trail and the log of a second step: `login.success` with the factor used, or a refusal. */
  async function recordOutcome(
    ctx: Context,
    pending: PendingSecondFactor,
    clientId: string,
    outcome: { event: string; details: Record<string, unknown> },
  ) {
    await audit.record({ ...outcome, accountId: pending.accountId, clientId, ip: ctx.ip });
    log.info(
      { event: outcome.event, ...outcome.details, client_id: clientId, account_id: pending.accountId },
      outcome.event === 'login.success' ? 'signed in with a second factor' : 'second factor refused',
    );
  }

  /** The interaction and its pending state at `stage`; otherwise back to whatever the interaction shows now. */
  async function postedAt(ctx: Context, stages: PendingSecondFactor['stage'][]) {
    const posted = await loadPostedInteraction(ctx, deps.provider(), views, csrf);
    if (!posted) return undefined;
    const pending = pendingOf(posted.interaction);
    if (posted.interaction.prompt.name !== 'login' || !pending || !stages.includes(pending.stage)) {
      see(ctx, posted.interaction.uid);
      return undefined;
    }
    return { ...posted, pending };
  }

  /** The same for the JSON routes of a passkey (views/assets/passkeys.js): 4xx JSON or `{ redirect }` otherwise. */
  async function jsonPostedAt(ctx: Context) {
    const interaction = await loadJsonInteraction(ctx, deps);
    if (!interaction) return undefined;
    const pending = pendingOf(interaction);
    if (pending?.stage !== 'verify') {
      ctx.body = { redirect: `/interaction/${interaction.uid}` };
      return undefined;
    }
    return { interaction, pending };
  }

  return new Router()
    .post(PAGE_ROUTES.secondFactor, parseForm, async function submitSecondFactor(ctx) {
      const posted = await postedAt(ctx, ['verify']);
      if (!posted) return;
      const { interaction, form, pending } = posted;
      const t = views.strings(ctx);
      const method = form.method === 'recovery' ? 'recovery' : 'totp';
      const code = (form.code ?? '').slice(0, 64);
      if (!code.trim())
        return renderVerify(ctx, deps, interaction, pending, { error: t.mfa.missingCode, method, status: 400 });
      const limit = await deps.allowLoginAttempt?.(ctx);
      if (limit && !limit.allowed) {
        ctx.set('Retry-After', String(limit.retryAfterSeconds));
        return renderVerify(ctx, deps, interaction, pending, { error: t.login.rateLimited, method, status: 429 });
      }
      const clientId = String(interaction.params.client_id);
      const result = await deps.secondFactors.check(pending.accountId, { method, code }, mailLocale(t.lang));
      if (!result.ok) {
        const event = result.lockedNow ? 'login.locked' : 'login.second_factor_failed';
        await recordOutcome(ctx, pending, clientId, { event, details: { method, reason: result.reason } });
        const error =
          result.reason === 'locked' ? t.mfa.locked : method === 'recovery' ? t.mfa.invalidRecovery : t.mfa.invalidCode;
        return renderVerify(ctx, deps, interaction, pending, { error, method, status: 401 });
      }
      await recordOutcome(ctx, pending, clientId, { event: 'login.success', details: { second_factor: method } });
      await finish(ctx, deps, pending, ['otp']);
    })
    .post(PAGE_ROUTES.secondFactorPasskeyOptions, parseJson, async function secondFactorPasskeyOptions(ctx) {
      const posted = await jsonPostedAt(ctx);
      if (!posted || !deps.passkeys) return;
      const { interaction, pending } = posted;
      // Only this account's passkeys may answer, and the challenge is bound to this sign-in.
      ctx.body = await deps.passkeys.authenticationOptions({
        binding: bindingOf('interaction', interaction.uid),
        accountId: pending.accountId,
      });
    })
    .post(PAGE_ROUTES.secondFactorPasskey, parseJson, async function submitSecondFactorPasskey(ctx) {
      const posted = await jsonPostedAt(ctx);
      if (!posted || !deps.passkeys) return;
      const { interaction, pending } = posted;
      const t = views.strings(ctx);
      const limit = await deps.allowLoginAttempt?.(ctx);
      if (limit && !limit.allowed) {
        ctx.set('Retry-After', String(limit.retryAfterSeconds));
        return jsonError(ctx, 429, 'rate_limited', t.login.rateLimited);
      }
      const clientId = String(interaction.params.client_id);
      const { passkeys } = deps;
      let assertion: PasskeyAssertion | undefined;
      // Counted toward the account's lockout like a code, so a lock set meanwhile holds here too.
      const result = await deps.secondFactors.checkWith(pending.accountId, async () => {
        assertion = await passkeys.verifyPasskeyAssertion({
          binding: bindingOf('interaction', interaction.uid),
          accountId: pending.accountId,
          response: ctx.request.json?.response,
        });
        return assertion.ok;
      });
      if (!result.ok || !assertion?.ok) {
        // Not checked at all (the account is locked), or refused: the passkey's reason when it said one.
        const refusal = assertion && !assertion.ok ? assertion.reason : undefined;
        if (refusal === 'invalid_input') return jsonError(ctx, 400, 'invalid_request', t.passkeys.refused);
        const locked = !result.ok && result.reason === 'locked';
        await recordOutcome(ctx, pending, clientId, {
          event: !result.ok && result.lockedNow ? 'login.locked' : 'login.second_factor_failed',
          details: { method: 'passkey', reason: locked ? 'locked' : refusal },
        });
        return locked
          ? jsonError(ctx, 403, 'account_locked', t.mfa.locked)
          : jsonError(ctx, 401, 'passkey_refused', t.passkeys.refused);
      }
      await recordOutcome(ctx, pending, clientId, { event: 'login.success', details: { second_factor: 'passkey' } });
      ctx.body = {
        redirect: await deps.provider().interactionResult(ctx.req, ctx.res, loginResult(pending, assertion.methods), {
          mergeWithLastSubmission: false,
        }),
      };
    })
    .post(PAGE_ROUTES.secondFactorEnrol, parseForm, async function submitEnrolment(ctx) {
      const posted = await postedAt(ctx, ['enrol', 'enrolled']);
      if (!posted) return;
      const { interaction, form, pending } = posted;
      const clientId = String(interaction.params.client_id);
      if (pending.stage === 'enrolled') {
        if (form.action !== 'continue') return see(ctx, interaction.uid);
        await recordOutcome(ctx, pending, clientId, {
          event: 'login.success',
          details: { second_factor: 'totp_enrolled' },
        });
        return finish(ctx, deps, pending, ['otp']);
      }
      const t = views.strings(ctx);
      if (!pending.factorId) return see(ctx, interaction.uid);
      // A factor added elsewhere since this setup began: the sign-in asks for it instead of replacing it.
      if ((await deps.secondFactors.summary(pending.accountId)).hasFactor) {
        await savePending(interaction, { ...pending, stage: 'verify', factorId: undefined });
        return see(ctx, interaction.uid);
      }
      const result = await deps.secondFactors.confirmTotp(pending.accountId, pending.factorId, form.code ?? '');
      if (!result.ok) {
        if (result.reason === 'not_found') return see(ctx, interaction.uid);
        return renderEnrol(ctx, deps, interaction, pending, { error: t.mfa.invalidSetupCode, status: 400 });
      }
      log.info(
        { event: 'mfa.totp_added', account_id: pending.accountId, client_id: clientId },
        'authenticator app set up during sign-in',
      );
      const enrolled: PendingSecondFactor = { ...pending, stage: 'enrolled', factorId: undefined };
      if (!result.recoveryCodes) {
        await recordOutcome(ctx, pending, clientId, {
          event: 'login.success',
          details: { second_factor: 'totp_enrolled' },
        });
        return finish(ctx, deps, enrolled, ['otp']);
      }
      await savePending(interaction, enrolled);
      await renderRecoveryCodes(ctx, deps, interaction, result.recoveryCodes);
    });
}
