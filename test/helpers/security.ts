import * as oidc from 'openid-client';
import { formField, UserAgent } from './browser.ts';
import { CALLBACK, type Latchkey } from './latchkey.ts';

/** Helpers of the security, hostile, lockout, rate-limit and failure suites. */

export interface LoginPage {
  agent: UserAgent;
  csrf: string;
  loginUrl: URL;
  uid: string;
  body: string;
}

/** Starts an authorization (code + PKCE) as a browser would and stops at the login page. */
export async function openLoginPage(
  idp: Pick<Latchkey, 'issuer'>,
  rp: oidc.Configuration,
  params: Record<string, string> = {},
): Promise<LoginPage> {
  const agent = new UserAgent(idp.issuer);
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: CALLBACK,
    scope: 'openid',
    state: oidc.randomState(),
    nonce: oidc.randomNonce(),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...params,
  });
  const page = await agent.navigate(url);
  const csrf = formField(page.body, 'csrf');
  if (page.response.status !== 200 || !csrf)
    throw new Error(`expected the login page, got ${page.response.status} at ${page.url}`);
  return {
    agent,
    csrf,
    loginUrl: new URL(`${page.url.pathname}/login`, idp.issuer),
    uid: page.url.pathname.split('/')[2]!,
    body: page.body,
  };
}

/** Posts the login form; returns the response (redirects not followed) and its body. */
export async function postLogin(page: LoginPage, email: string, password: string, csrf = page.csrf) {
  const response = await page.agent.request(page.loginUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, email, password }).toString(),
  });
  return { response, body: await response.text() };
}

/** The text of the login page's error alert, or undefined. */
export function loginAlert(html: string): string | undefined {
  return /id="login-error"[^>]*>[\s\S]*?<span>([^<]*)<\/span>/.exec(html)?.[1];
}
