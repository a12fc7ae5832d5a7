import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { UserAgent } from './helpers/browser.ts';
import { authorize, exchange, type Latchkey, startLatchkey } from './helpers/latchkey.ts';

/**
 * A first-party app's approval is implied: its sign-in goes from the password straight back to the
 * app, without a consent step (oidc/provider.ts loadExistingGrant), and the grant holds what the
 * app asked for, as the consent step would have recorded it.
 */

/** A browser that notes the provider paths it requests. */
class TracingAgent extends UserAgent {
  readonly paths: string[] = [];
  override request(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const url = new URL(input, this.origin);
    if (url.origin === this.origin) this.paths.push(`${init.method ?? 'GET'} ${url.pathname}`);
    return super.request(input, init);
  }
}

async function impliedConsents(idp: Latchkey, accountId: string, clientId: string): Promise<number> {
  const { rows } = await idp.server.database.pool.query(
    `select count(*)::int as n from audit_events where event = 'consent.implied' and account_id = $1 and client_id = $2`,
    [accountId, clientId],
  );
  return rows[0].n as number;
}

test('a first-party sign-in goes from the password back to the app: one interaction, no consent step', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential', firstParty: true });
  const rp = await idp.rp(client, 'basic');

  const agent = new TracingAgent(idp.issuer);
  const flow = await authorize(idp, rp, { email: user.email, scope: 'openid profile', agent });
  assert.ok(flow.sawLogin);
  assert.equal(flow.sawConsent, false);
  const [interaction, ...others] = new Set(
    agent.paths.flatMap((path) => /\/interaction\/([^/]+)/.exec(path)?.[1] ?? []),
  );
  assert.ok(interaction && others.length === 0, `one interaction: ${agent.paths.join(', ')}`);
  assert.deepEqual(
    agent.paths.slice(1),
    [`GET /interaction/${interaction}`, `POST /interaction/${interaction}/login`, `GET /authorize/${interaction}`],
    'after the password, the resumed authorization answers with the code',
  );
  const tokens = await exchange(rp, flow);
  assert.ok(tokens.claims()?.name, 'the grant holds the scopes asked for');
  assert.equal(tokens.claims()?.email, undefined);
  assert.equal(await impliedConsents(idp, user.id, client.clientId), 1, 'consent.implied, once');

  // Already signed in, the app asks for more: granted at once, and recorded.
  const more = await authorize(idp, rp, { email: user.email, scope: 'openid email', agent: flow.agent });
  assert.equal(more.sawLogin, false);
  assert.equal(more.sawConsent, false);
  assert.equal((await exchange(rp, more)).claims()?.email, user.email);
  assert.equal(await impliedConsents(idp, user.id, client.clientId), 2);

  // Remembered: a sign-in in another browser starts from it, and records nothing new.
  const again = await authorize(idp, rp, {
    email: user.email,
    scope: 'openid profile email',
    agent: new TracingAgent(idp.issuer),
  });
  assert.equal(again.sawConsent, false);
  await exchange(rp, again);
  assert.equal(await impliedConsents(idp, user.id, client.clientId), 2);

  // prompt=none works for a first-party app with a session: nothing to approve.
  const silent = await authorize(idp, rp, { email: user.email, prompt: 'none', agent: flow.agent });
  assert.ok(silent.callback.searchParams.get('code'), silent.callback.href);
});

test('a first-party app asking for an API gets the scopes of that API it asked for, and no others', async (t) => {
  const idp = await startLatchkey(t);
  const API = 'https://notes.first-party.test';
  await idp.apis.create({ identifier: API, scopes: ['notes:read', 'notes:write'] });
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential', firstParty: true });
  const rp = await idp.rp(client, 'basic');

  const flow = await authorize(idp, rp, { email: user.email, scope: 'openid notes:read', resource: API });
  assert.equal(flow.sawConsent, false);
  const tokens = await oidc.authorizationCodeGrant(
    rp,
    flow.callback,
    { expectedState: flow.state, expectedNonce: flow.nonce, pkceCodeVerifier: flow.codeVerifier },
    { resource: API },
  );
  const claims = decodeJwt(tokens.access_token);
  assert.equal(claims.aud, API);
  assert.equal(claims.scope, 'notes:read');
});

test('offline_access with a first-party app still passes the consent step, implied there', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({
    type: 'confidential',
    firstParty: true,
    grantTypes: ['authorization_code', 'refresh_token'],
  });
  const rp = await idp.rp(client, 'basic');
  const agent = new TracingAgent(idp.issuer);
  const flow = await authorize(idp, rp, {
    email: user.email,
    scope: 'openid offline_access',
    prompt: 'consent',
    agent,
  });
  assert.equal(flow.sawConsent, false, 'no page');
  const interactions = new Set(agent.paths.flatMap((path) => /\/interaction\/([^/]+)/.exec(path)?.[1] ?? []));
  assert.equal(interactions.size, 2, 'a login step, then the consent step');
  const tokens = await exchange(rp, flow);
  assert.ok(tokens.refresh_token);
  assert.equal(await impliedConsents(idp, user.id, client.clientId), 1);
});
