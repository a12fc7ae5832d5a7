import assert from 'node:assert/strict';
import { test } from 'node:test';
import Keygrip from 'keygrip';
import { createCookieSigner } from '../src/security/cookie-signer.ts';

/**
 * Cookies are signed as keygrip (Koa's default) signs them, so sessions and interactions started
 * before an upgrade, or on a node still running the previous version, stay valid.
 */
test('cookie signatures match keygrip: the first key signs, every key verifies', () => {
  const keys = ['current-key-of-some-length', 'previous-key-still-accepted'];
  const ours = createCookieSigner(keys);
  const keygrip = new Keygrip(keys);
  const data = '_session=0123456789abcdefghij';
  assert.equal(ours.sign(data), keygrip.sign(data));
  assert.equal(ours.index(data, keygrip.sign(data)), 0);
  assert.equal(
    ours.index(data, new Keygrip([keys[1]!]).sign(data)),
    1,
    'a cookie signed with the previous key is recognised (and re-signed)',
  );
  assert.equal(ours.verify(data, new Keygrip(['some-other-key']).sign(data)), false);
  assert.equal(ours.index(data, `${ours.sign(data)}x`), -1);
  assert.equal(ours.index(data, ''), -1);
  assert.equal(ours.index(`${data}x`, ours.sign(data)), -1, 'the signature covers the value');
});
