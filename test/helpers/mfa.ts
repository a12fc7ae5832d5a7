import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import { createServices } from '../../src/services.ts';
import { formField, UserAgent } from './browser.ts';
import { CALLBACK, type FlowResult, type Latchkey, PASSWORD, signInFrom } from './latchkey.ts';

/** Helpers of the second-factor suites (test/mfa.*): a real TOTP library computes every code. */

/** The code an authenticator app shows for `secret` at `at` (ms), or `steps` of 30 s from now. */
export function totpCode(secret: string, steps = 0, at = Date.now()): string {
  return new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({
    timestamp: at + steps * 30_000,
  });
}

/**
 * Waits, when the current 30-second step ends within `margin` ms, for the next one to begin: a
 * test that computes a code and then submits it stays within one step.
 */
export async function awayFromStepEnd(margin = 6000): Promise<void> {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < margin) await sleep(left + 200);
}

/** The second factors of the test server (the service the account page and the CLI use). */
export function secondFactorsOf(idp: Latchkey) {
  return createServices({ config: idp.config, db: idp.server.database.pool, secretKey: idp.config.secretKey! })
    .secondFactors;
}

/**
 * Sets up an authenticator app for the account as the account page does, confirmed with the code
 * of the previous step (drift -1), so the current step's code is still unused. Returns the secret
 * and the recovery codes it came with.
 */
export async function enrolTotp(
  idp: Latchkey,
  account: { id: string; email: string },
): Promise<{ secret: string; recoveryCodes: string[] }> {
  await awayFromStepEnd();
  const factors = secondFactorsOf(idp);
  const setup = await factors.startTotp(account);
  const result = await factors.confirmTotp(account.id, setup.factorId, totpCode(setup.secret, -1));
  if (!result.ok) throw new Error(`enrolment refused: ${result.reason}`);
  return { secret: setup.secret, recoveryCodes: result.recoveryCodes ?? [] };
}

export interface Step {
  response: Response;
  url: URL;
  location?: URL | undefined;
  body: string;
}

/** An authorization (code + PKCE) started as a browser would; `step` is the first page shown. */
export async function beginFlow(
  idp: Pick<Latchkey, 'issuer'>,
  rp: oidc.Configuration,
  options: { agent?: UserAgent; params?: Record<string, string> } = {},
): Promise<{ flow: Omit<FlowResult, 'callback' | 'sawLogin' | 'sawConsent'>; step: Step }> {
  const agent = options.agent ?? new UserAgent(idp.issuer);
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: CALLBACK,
    scope: 'openid email',
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    ...options.params,
  });
  return { flow: { agent, codeVerifier, state, nonce }, step: await agent.navigate(url) };
}

/** Which of our pages a step shows. */
export function pageOf(step: Step): 'login' | 'second-factor' | 'enrol' | 'recovery-codes' | 'consent' | 'other' {
  if (step.location) return 'other';
  if (step.body.includes('/second-factor"')) return 'second-factor';
  if (step.body.includes('/enrol"') && step.body.includes('id="totp-secret"')) return 'enrol';
  if (step.body.includes('/enrol"') && step.body.includes('value="continue"')) return 'recovery-codes';
  if (step.body.includes('/login"')) return 'login';
  if (step.body.includes('/consent"')) return 'consent';
  return 'other';
}

const interactionBase = (step: Step) => step.url.pathname.split('/').slice(0, 3).join('/');

export function submitPassword(idp: Pick<Latchkey, 'issuer'>, agent: UserAgent, step: Step, email: string) {
  return agent.submitForm(new URL(`${interactionBase(step)}/login`, idp.issuer), {
    csrf: formField(step.body, 'csrf') ?? '',
    email,
    password: PASSWORD,
  });
}

/** Posts the second-factor form (as the page's own form would, without following redirects). */
export function postSecondFactor(
  idp: Pick<Latchkey, 'issuer'>,
  agent: UserAgent,
  step: Step,
  code: string,
  method: 'totp' | 'recovery' = 'totp',
) {
  return agent.request(new URL(`${interactionBase(step)}/second-factor`, idp.issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf: formField(step.body, 'csrf') ?? '', method, code }).toString(),
  });
}

export function submitSecondFactor(
  idp: Pick<Latchkey, 'issuer'>,
  agent: UserAgent,
  step: Step,
  code: string,
  method: 'totp' | 'recovery' = 'totp',
) {
  return agent.submitForm(new URL(`${interactionBase(step)}/second-factor`, idp.issuer), {
    csrf: formField(step.body, 'csrf') ?? '',
    method,
    code,
  });
}

/** The setup page's key (base32), as a person would copy it. */
export function secretOnPage(body: string): string {
  const secret = /id="totp-secret">([A-Z2-7]+)</.exec(body)?.[1];
  if (!secret) throw new Error('no key on the setup page');
  return secret;
}

export function submitEnrolment(
  idp: Pick<Latchkey, 'issuer'>,
  agent: UserAgent,
  step: Step,
  fields: Record<string, string>,
) {
  return agent.submitForm(new URL(`${interactionBase(step)}/enrol`, idp.issuer), {
    csrf: formField(step.body, 'csrf') ?? '',
    ...fields,
  });
}

/** The recovery codes listed on a page. */
export function codesOnPage(body: string): string[] {
  const list = /<ul class="codes"[^>]*>([\s\S]*?)<\/ul>/.exec(body)?.[1] ?? '';
  return [...list.matchAll(/<li>([^<]+)<\/li>/g)].map((match) => match[1]!);
}

/** From a step on to the app's callback (answering consent), as FlowResult for exchange(). */
export async function finishFlow(
  idp: Pick<Latchkey, 'issuer'>,
  flow: Omit<FlowResult, 'callback' | 'sawLogin' | 'sawConsent'>,
  step: Step,
  email: string,
): Promise<FlowResult> {
  const done = await signInFrom(idp, flow.agent, Promise.resolve(step), { email });
  if (!done.location) throw new Error(`flow stopped at ${done.url} (${done.status})`);
  return { ...flow, callback: done.location, sawLogin: done.sawLogin, sawConsent: done.sawConsent };
}
