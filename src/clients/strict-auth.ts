import { type Client, errors, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * Client metadata flag: the client must authenticate exactly with its registered
 * token_endpoint_auth_method. The engine treats client_secret_basic and client_secret_post as
 * interchangeable (shared/client_auth.js accepts either for both); a client registered with an
 * explicit method (`clients create --token-endpoint-auth-method`) gets only that one, as
 * Keycloak's "client.secret.authentication.allowed.method" does. Clients on the default accept both.
 */
export const STRICT_AUTH_METHOD = 'strict_auth_method';

/** The engine's routes that authenticate a client (those that mount shared/client_auth.js). */
const CLIENT_AUTH_ROUTES = new Set([
  'token',
  'introspection',
  'revocation',
  'pushed_authorization_request',
  'device_authorization',
  'backchannel_authentication',
]);

type Next = () => Promise<unknown>;

/**
 * A provider.use() middleware. The engine has no per-client hook for the mechanism, so we listen
 * for the moment its client authentication has found the client ('assign.client', emitted on
 * ctx.oidc before the secret is compared; its CORS check uses the same event) and throw there:
 * the error then goes through the route's own error handler, which renders RFC 6749 JSON with
 * 401 and WWW-Authenticate and emits grant.error / introspection.error / revocation.error.
 */
export function strictClientAuth() {
  return function enforceRegisteredAuthMethod(ctx: KoaContextWithOIDC, next: Next) {
    if (ctx.method !== 'POST') return next(); // every client-authenticating route is a POST
    // Calling next() runs the engine's router synchronously up to its first await (reading the
    // body): by then the route's ctx.oidc exists and no client has been authenticated yet.
    const routed = next();
    const oidc = ctx.oidc as (KoaContextWithOIDC['oidc'] & NodeJS.EventEmitter) | undefined;
    if (oidc && CLIENT_AUTH_ROUTES.has(oidc.route)) {
      oidc.once('assign.client', checkMechanism);
    }
    return routed;
  };
}

function checkMechanism(ctx: KoaContextWithOIDC, client: Client) {
  if (client[STRICT_AUTH_METHOD] !== true) return;
  const usedBasic = ctx.headers.authorization !== undefined;
  const usedPost = ctx.oidc.params?.client_secret !== undefined;
  if (client.clientAuthMethod === 'client_secret_post' && usedBasic) {
    throw new errors.InvalidClientAuth('client is registered for client_secret_post and used client_secret_basic');
  }
  if (client.clientAuthMethod === 'client_secret_basic' && usedPost) {
    throw new errors.InvalidClientAuth('client is registered for client_secret_basic and used client_secret_post');
  }
}
