import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { formField } from './helpers/browser.ts';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';

const POST_LOGOUT = 'http://127.0.0.1:8765/signed-out';

test('RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential', postLogoutRedirectUris: [POST_LOGOUT] });
  const rp = await idp.rp(client);

  async function signedIn() {
    const flow = await authorize(idp, rp, { email: user.email });
    const tokens = await exchange(rp, flow);
    return { agent: flow.agent, idToken: tokens.id_token! };
  }

  await t.test(
    'with id_token_hint and a registered post_logout_redirect_uri: confirm page, then back to the app with state',
    async () => {
      const { agent, idToken } = await signedIn();
      const page = await agent.navigate(
        oidc.buildEndSessionUrl(rp, { id_token_hint: idToken, post_logout_redirect_uri: POST_LOGOUT, state: 'st-1' }),
      );
      assert.equal(page.response.status, 200);
      assert.match(page.body, /Test App/, 'the page names the app that asks');
      const xsrf = formField(page.body, 'xsrf');
      assert.ok(xsrf, "the confirmation form carries the engine's xsrf token");
      assert.match(page.body, /form="op.logoutForm" name="logout" value="yes"/);

      const confirmed = await agent.submitForm(`${idp.issuer}/logout/confirm`, { xsrf, logout: 'yes' });
      assert.ok(confirmed.location);
      assert.equal(`${confirmed.location.origin}${confirmed.location.pathname}`, POST_LOGOUT);
      assert.equal(confirmed.location.searchParams.get('state'), 'st-1');

      // The session is gone: the next authorization asks to sign in again.
      const again = await authorize(idp, rp, { email: user.email, agent });
      assert.equal(again.sawLogin, true);
    },
  );

  await t.test('an unregistered post_logout_redirect_uri gets an error page and no redirect', async () => {
    const { agent, idToken } = await signedIn();
    const page = await agent.navigate(
      oidc.buildEndSessionUrl(rp, { id_token_hint: idToken, post_logout_redirect_uri: 'https://evil.example.com/' }),
    );
    assert.equal(page.location, undefined);
    assert.equal(page.response.status, 400);
    assert.match(page.body, /invalid_request/);
    assert.doesNotMatch(page.body, /evil\.example\.com/);
    assert.equal(formField(page.body, 'xsrf'), undefined, 'no logout form');
  });

  await t.test(
    'a post_logout_redirect_uri without id_token_hint or client_id is ignored: our signed-out page',
    async () => {
      const { agent } = await signedIn();
      const page = await agent.navigate(
        `${idp.issuer}/logout?post_logout_redirect_uri=${encodeURIComponent(POST_LOGOUT)}`,
      );
      const xsrf = formField(page.body, 'xsrf');
      assert.ok(xsrf);
      const done = await agent.submitForm(`${idp.issuer}/logout/confirm`, { xsrf, logout: 'yes' });
      assert.equal(done.location, undefined, 'not sent anywhere');
      assert.equal(done.url.pathname, '/logout/success');
      assert.equal(done.response.status, 200);
      assert.match(done.body, /You are signed out/);
    },
  );

  await t.test('a forged confirmation without the xsrf token signs nobody out', async () => {
    const { agent } = await signedIn();
    const forged = await agent.submitForm(`${idp.issuer}/logout/confirm`, { xsrf: 'forged', logout: 'yes' });
    assert.equal(forged.response.status, 400);
    const again = await authorize(idp, rp, { email: user.email, agent });
    assert.equal(again.sawLogin, false, 'still signed in');
  });

  await t.test('discovery advertises the end_session_endpoint', async () => {
    const metadata = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    assert.equal(metadata.end_session_endpoint, `${idp.issuer}/logout`);
  });
});
