import assert from 'node:assert/strict';
import * as oidc from 'openid-client';

/** `assert.rejects` matchers for the OAuth errors openid-client throws. */

/**
 * The OAuth error `code`, from a JSON error body or from a 401 challenge (a client that failed to
 * authenticate, a bearer token the server refused).
 */
export function oauthError(code: string) {
  return (err: unknown) => {
    const actual =
      err instanceof oidc.ResponseBodyError
        ? err.error
        : err instanceof oidc.WWWAuthenticateChallengeError
          ? err.cause[0]?.parameters.error
          : undefined;
    assert.equal(actual, code, `expected ${code}, got ${String(err)}`);
    return true;
  };
}

/** The OAuth error `code` in a JSON error body, and nowhere else (not a challenge). */
export function oauthErrorBody(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof oidc.ResponseBodyError, String(err));
    assert.equal(err.error, code);
    return true;
  };
}

/** A 401, as a challenge or as an error body: the token or the client was refused. */
export function isUnauthorized(err: unknown) {
  assert.ok(err instanceof oidc.WWWAuthenticateChallengeError || err instanceof oidc.ResponseBodyError, String(err));
  assert.equal(err.status, 401);
  return true;
}
