import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startLatchkey } from './helpers/latchkey.ts';

test('every page has an icon: /favicon.ico, which browsers ask for unprompted, and the one the layout links', async (t) => {
  const idp = await startLatchkey(t);
  const page = await fetch(`${idp.issuer}/forgot-password`);
  const linked = /<link rel="icon" href="([^"]+)" type="image\/svg\+xml">/.exec(await page.text())?.[1];
  assert.ok(linked, 'the layout links an icon');
  for (const path of ['/favicon.ico', linked]) {
    const res = await fetch(`${idp.issuer}${path}`);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get('content-type'), 'image/svg+xml', path);
    assert.match(await res.text(), /^<svg /, path);
  }
});
