import { formField, UserAgent } from './browser.ts';
import { PASSWORD, type Latchkey } from './latchkey.ts';

export interface SignInResult {
  /** Where the browser was sent off the provider (the client's redirect URI), if it was. */
  location?: URL | undefined;
  /** The last page shown on the provider (the device flow's success page, an error page). */
  body: string;
  status: number;
  sawLogin: boolean;
  sawConsent: boolean;
}

/**
 * Like authorize() in latchkey.ts, from any page that leads to our sign-in (a PAR request_uri,
 * the device flow's confirmation): follows redirects, signs in and allows consent when asked.
 */
export async function signInFrom(idp: Latchkey, agent: UserAgent, start: Promise<Awaited<ReturnType<UserAgent['navigate']>>>,
  options: { email: string; password?: string; consent?: 'allow' | 'deny' }): Promise<SignInResult> {
  let step = await start;
  let sawLogin = false;
  let sawConsent = false;
  for (let i = 0; i < 4 && !step.location; i += 1) {
    const csrf = formField(step.body, 'csrf');
    if (step.body.includes('/login"') && csrf) {
      sawLogin = true;
      step = await agent.submitForm(new URL(`${step.url.pathname}/login`, idp.issuer), { csrf, email: options.email, password: options.password ?? PASSWORD });
    } else if (step.body.includes('/consent"') && csrf) {
      sawConsent = true;
      step = await agent.submitForm(new URL(`${step.url.pathname}/consent`, idp.issuer), { csrf, decision: options.consent ?? 'allow' });
    } else {
      break;
    }
  }
  return { location: step.location, body: step.body, status: step.response.status, sawLogin, sawConsent };
}

export { UserAgent };
