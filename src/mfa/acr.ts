/**
 * Authentication Context Class References (OpenID Connect Core 2, `acr`) and Authentication
 * Method References (RFC 8176, `amr`): what an ID token says of how the person signed in.
 * Discovery lists ACR_VALUES as acr_values_supported; an app asking for ACR.mfa in acr_values
 * gets a second factor, inside an existing session too (step-up).
 */
export const ACR = {
  /** A password alone. */
  pwd: 'urn:latchkey:acr:pwd',
  /** Two factors, or a passkey with user verification (possession plus PIN or biometric). */
  mfa: 'urn:latchkey:acr:mfa',
} as const;

export const ACR_VALUES = [ACR.pwd, ACR.mfa];

/** RFC 8176 method values we issue. */
export type Amr = 'pwd' | 'otp' | 'hwk' | 'swk' | 'user' | 'mfa';

/**
 * The amr and acr of a sign-in from the methods used, in the order used. Two different factors,
 * or a user-verified passkey, make it multi-factor.
 */
export function authenticationOf(methods: readonly Amr[]): { amr: Amr[]; acr: string } {
  const amr = [...new Set(methods.filter((method) => method !== 'mfa'))];
  const knowledge = amr.includes('pwd');
  const possession = amr.includes('otp') || amr.includes('hwk') || amr.includes('swk');
  const verifiedKey = amr.includes('user') && (amr.includes('hwk') || amr.includes('swk'));
  const multiFactor = (knowledge && possession) || verifiedKey;
  return multiFactor ? { amr: [...amr, 'mfa'], acr: ACR.mfa } : { amr, acr: ACR.pwd };
}
