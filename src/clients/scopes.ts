/** The OpenID Connect scopes we serve (the engine's `scopes`); every other scope belongs to an API. */
export const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email'];

/**
 * Client metadata: the API scopes a client may get, space-separated (clients.ts fills it from the
 * client's scope list; absent: any). The engine's own `scope` metadata may hold OpenID scopes only.
 */
export const API_SCOPES = 'api_scopes';
