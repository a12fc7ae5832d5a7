import type { SecondFactorPolicy } from '../oidc/provider.ts';
import { ACR, ACR_VALUES } from './acr.ts';

/**
 * Whether an authorization needs two factors: everyone's (MFA_REQUIRED), the app's
 * (`clients --require-mfa`), or the request's (`acr_values` naming only urn:latchkey:acr:mfa of our
 * values; a list that also accepts urn:latchkey:acr:pwd is satisfied by a password).
 */
export function createSecondFactorPolicy(settings: { mfaRequired: boolean }): SecondFactorPolicy {
  return {
    acrValues: ACR_VALUES,
    required({ acrValues, clientRequiresMfa }) {
      if (settings.mfaRequired || clientRequiresMfa) return true;
      const asked = typeof acrValues === 'string' ? acrValues.split(' ') : [];
      return asked.includes(ACR.mfa) && !asked.includes(ACR.pwd);
    },
    satisfiedBy: (acr) => acr === ACR.mfa,
  };
}
