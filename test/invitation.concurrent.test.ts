import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAccountTokenStore } from '../src/accounts/token-store.ts';
import { createServices } from '../src/services.ts';
import { startLatchkey } from './helpers/latchkey.ts';

test('inviting an address again at the moment its invitation is accepted never leaves a link that works', async (t) => {
  const idp = await startLatchkey(t);
  const pool = idp.server.database.pool;
  const { selfService } = createServices({ config: idp.config, db: pool, secretKey: idp.config.secretKey! });
  const outcomes = { invitedAgain: 0, refused: 0 };
  for (let round = 0; round < 8; round++) {
    const email = `race${round}@example.com`;
    const invited = await selfService.invite({ email, name: 'Race', locale: 'en' });
    assert.ok(invited.ok);
    // The mailed link's twin, issued the same way, to accept with.
    const link = await createAccountTokenStore(pool).issue({
      kind: 'invite',
      accountId: invited.account.id,
      ttlSeconds: 600,
      bindPassword: true,
    });
    assert.ok(link);
    const [accepted, again] = await Promise.all([
      selfService.acceptInvitation(link.token, 'a passphrase of my own choosing'),
      selfService.invite({ email, name: 'Race', locale: 'en' }),
    ]);
    if (again.ok) outcomes.invitedAgain++;
    else outcomes.refused++;
    // Either the acceptance came first (no link works after it), or the new link did (it voided the
    // one being accepted, and is the one that works).
    const usable = await selfService.invitationExpiresAt(invited.account.id);
    if (accepted.ok) {
      assert.equal(usable, undefined, `round ${round}: no invitation link works once a password is chosen`);
      const refusedNow = await selfService.invite({ email, name: 'Race', locale: 'en' });
      assert.equal(refusedNow.ok, false, 'an accepted invitation is not sent again');
    } else {
      assert.ok(again.ok && usable, `round ${round}: the acceptance lost to a new link, which works`);
    }
  }
  t.diagnostic(`invited again ${outcomes.invitedAgain}, refused ${outcomes.refused}`);
});
