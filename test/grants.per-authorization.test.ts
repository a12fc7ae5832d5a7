import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { createPayloadStore } from '../src/oidc/payload-store.ts';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';
import { oauthErrorBody } from './helpers/oauth-errors.ts';

test('each authorization gets its own grant; consent is remembered apart from them', async (t) => {
  const idp = await startLatchkey(t);
  const payloads = createPayloadStore(idp.server.database.pool);

  await t.test(
    'offline authorizations get a grant each; all are listed, and ending them all forgets the consent',
    async () => {
      const user = await idp.users.create();
      const rp = await idp.rp(
        await idp.clients.create({ type: 'confidential', grantTypes: ['authorization_code', 'refresh_token'] }),
        'basic',
      );
      const first = await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' });
      const a = await exchange(rp, first);
      const b = await exchange(
        rp,
        await authorize(idp, rp, {
          email: user.email,
          scope: 'openid offline_access',
          prompt: 'consent',
          agent: first.agent,
        }),
      );
      const c = await exchange(
        rp,
        await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' }),
      );

      const grants = await payloads.grantsOfAccount(user.id);
      assert.equal(grants.length, 3, 'one grant per authorization, in the same browser too');
      assert.ok(grants.every((grant) => grant.client_id === rp.clientMetadata().client_id));

      assert.equal(await payloads.revokeGrantsOfAccount(user.id), 3);
      for (const tokens of [a, b, c])
        await assert.rejects(oidc.refreshTokenGrant(rp, tokens.refresh_token!), oauthErrorBody('invalid_grant'));
      const after = await authorize(idp, rp, { email: user.email, scope: 'openid' });
      assert.ok(after.sawConsent, 'the consent is forgotten: asked again');
      await exchange(rp, after);
    },
  );
});
