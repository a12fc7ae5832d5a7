/**
 * Client metadata (engine `extraClientMetadata`): true when sign-in for this client needs a second
 * factor (the `clients.require_mfa` column, `--require-mfa`). A person without one sets up an
 * authenticator app during the sign-in before the app gets a code (mfa/, oidc/provider.ts).
 */
export const REQUIRE_MFA = 'require_mfa';
