import type { Clients } from '../clients/clients.ts';
import type { AppType, PlaygroundStore } from './store.ts';

/** What `clients list` shows: the name says it is the playground's (and `clients delete` removes it). */
const PLAYGROUND_CLIENT_PREFIX = 'Playground:';
const NAMES: Record<AppType, string> = {
  web: `${PLAYGROUND_CLIENT_PREFIX} web app (confidential)`,
  spa: `${PLAYGROUND_CLIENT_PREFIX} single-page app (public, PKCE)`,
  native: `${PLAYGROUND_CLIENT_PREFIX} native app (public, PKCE)`,
};

export interface PlaygroundClient {
  clientId: string;
  /** The web client's only; never logged, shown on the page only on request. */
  secret?: string | undefined;
  redirectUri: string;
  postLogoutRedirectUri: string;
}

export const playgroundUri = (issuer: string) => `${issuer}/playground`;
const callbackUri = (issuer: string, appType: AppType) => `${issuer}/playground/callback/${appType}`;

/**
 * The playground's client for an application type, created on first use through the clients
 * service (the same rules as `clients create`). The playground receives every callback itself, so
 * each client's redirect URI is on the issuer; the page says what a real app registers instead.
 * A client removed with `clients delete` (or registered for another issuer) is made again.
 */
export function createPlaygroundClients(deps: { clients: Clients; store: PlaygroundStore; issuer: string }) {
  const { clients, store, issuer } = deps;
  const redirectUri = (appType: AppType) => callbackUri(issuer, appType);

  async function current(appType: AppType): Promise<PlaygroundClient | undefined> {
    const row = await store.findClient(appType);
    if (!row) return undefined;
    const client = await clients.store.findById(row.client_id);
    if (client?.redirect_uris.includes(redirectUri(appType))) {
      return {
        clientId: row.client_id,
        secret: row.secret,
        redirectUri: redirectUri(appType),
        postLogoutRedirectUri: playgroundUri(issuer),
      };
    }
    // Registered for another issuer: replaced (the row goes with the client, on delete cascade).
    if (client) await clients.store.delete(row.client_id);
    return undefined;
  }

  return {
    async forType(appType: AppType): Promise<PlaygroundClient> {
      const existing = await current(appType);
      if (existing) return existing;
      const created = await clients.create({
        name: NAMES[appType],
        type: appType === 'web' ? 'confidential' : 'public',
        // The redirect is an https (or loopback http) page of the issuer: a web redirect URI,
        // whatever the app it stands for. A real native app registers application_type native.
        applicationType: 'web',
        redirectUris: [redirectUri(appType)],
        postLogoutRedirectUris: [playgroundUri(issuer)],
        grantTypes: ['authorization_code', 'refresh_token'],
        ...(appType === 'web' ? { tokenEndpointAuthMethod: 'client_secret_basic' } : {}),
      });
      if (!created.ok) throw new Error(`playground client could not be created: ${created.problems.join('; ')}`);
      if (await store.recordClient(appType, created.client.client_id, created.clientSecret)) {
        return {
          clientId: created.client.client_id,
          secret: created.clientSecret,
          redirectUri: redirectUri(appType),
          postLogoutRedirectUri: playgroundUri(issuer),
        };
      }
      // Another request (or node) made one first: ours goes, theirs is used.
      await clients.store.delete(created.client.client_id);
      const winner = await current(appType);
      if (!winner) throw new Error('playground client vanished while being created');
      return winner;
    },
  };
}
export type PlaygroundClients = ReturnType<typeof createPlaygroundClients>;
