/**
 * Client metadata (engine `extraClientMetadata`): true when sign-in for this client needs a
 * verified email address (the `clients.require_verified_email` column, `--require-verified-email`).
 * The engine's login prompt then stops at our "verify your email" page until it is (oidc/provider.ts).
 */
export const REQUIRE_VERIFIED_EMAIL = 'require_verified_email';
