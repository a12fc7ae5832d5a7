/**
 * Client metadata (engine `extraClientMetadata`): true when the client must send PKCE (S256) with
 * every authorization request. Always true for public clients; for confidential ones the
 * `clients.require_pkce` column (true for new clients, false for those registered before
 * migration 0006, `--allow-no-pkce` for a relying party that cannot send it).
 */
export const REQUIRE_PKCE = 'require_pkce';
