import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientKey } from '../src/security/rate-limits.ts';

/** The key a client address counts under for the login and token limits. */

test('an IPv4 address counts as itself', () => {
  assert.equal(clientKey('203.0.113.7'), '203.0.113.7');
  assert.notEqual(clientKey('203.0.113.7'), clientKey('203.0.113.8'));
});

test('an IPv4-mapped IPv6 address counts as its IPv4 address', () => {
  assert.equal(clientKey('::ffff:203.0.113.7'), '203.0.113.7');
});

test('every address of one IPv6 /64 counts as one client', () => {
  const key = '2001:db8:85a3:12::/64';
  for (const ip of [
    '2001:db8:85a3:12::1',
    '2001:0db8:85a3:0012:ffff:ffff:ffff:ffff',
    '2001:DB8:85A3:12:0:0:0:2',
    '2001:db8:85a3:12:abcd::9',
  ]) {
    assert.equal(clientKey(ip), key, ip);
  }
  assert.notEqual(clientKey('2001:db8:85a3:13::1'), key, 'the next /64 is another client');
});

test('compressed zeros inside the /64 prefix expand before the prefix is taken', () => {
  assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(clientKey('2001:db8::5:0:0:1'), '2001:db8:0:0::/64');
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  assert.equal(clientKey('fe80::1:2:3:4'), 'fe80:0:0:0::/64');
});

test('no address counts as "unknown"; anything else that is not IPv6 counts as itself', () => {
  assert.equal(clientKey(''), 'unknown');
  assert.equal(clientKey('not-an-ip'), 'not-an-ip');
});
