import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';

export interface DecodedToken {
  /** id_token or access_token. */
  which: 'id_token' | 'access_token';
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  /** The key id the header names, and whether the signature checked out against /jwks with it. */
  kid: string | undefined;
  verified: boolean;
  /** Why verification failed (jose's message), when it did. */
  problem?: string | undefined;
}

/** Whether a token is a JWT (three base64url parts) rather than an opaque handle. */
export function isJwt(token: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);
}

/**
 * Decodes a JWT and verifies its signature, issuer and audience against the key set /jwks served
 * (fetched over HTTP by the playground, as an app or API would). The claims are shown either way.
 */
export async function decodeToken(
  which: DecodedToken['which'],
  token: string,
  jwks: JSONWebKeySet,
  expected: { issuer: string; audience: string },
): Promise<DecodedToken> {
  const header = decodeProtectedHeader(token) as Record<string, unknown>;
  const claims = decodeJwt(token) as Record<string, unknown>;
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  try {
    await jwtVerify(token, createLocalJWKSet(jwks), { issuer: expected.issuer, audience: expected.audience });
    return { which, header, claims, kid, verified: true };
  } catch (err) {
    return { which, header, claims, kid, verified: false, problem: (err as Error).message };
  }
}
