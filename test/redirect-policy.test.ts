import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redirectUriProblem } from '../src/clients/redirect-policy.ts';

/** Registration rules for redirect URIs (RFC 9700 §2.1, RFC 8252 §7), without a server. */
const web = (uri: string) => redirectUriProblem(uri, 'web');
const native = (uri: string) => redirectUriProblem(uri, 'native');

test('a web app registers https URLs, and http only on a loopback host', () => {
  for (const uri of [
    'https://app.example.com/callback',
    'https://app.example.com:8443/cb?tenant=a',
    'http://localhost:3000/callback',
    'http://127.0.0.1/cb',
    'http://[::1]:8080/cb',
  ]) {
    assert.equal(web(uri), undefined, uri);
  }
  assert.match(web('http://app.example.com/callback')!, /must use https/);
  assert.match(web('com.example.app:/callback')!, /must be an https URL for a web application/);
});

test('a native app registers loopback IPs over http, claimed https URLs and reverse-DNS schemes', () => {
  for (const uri of [
    'http://127.0.0.1:51004/cb',
    'http://[::1]/cb',
    'https://app.example.com/cb',
    'com.example.app:/oauth2redirect',
  ]) {
    assert.equal(native(uri), undefined, uri);
  }
  // RFC 8252 §8.3: "localhost" may resolve elsewhere; loopback redirects use the IP literal.
  assert.match(native('http://localhost:8080/cb')!, /only with a loopback IP/);
  assert.match(native('http://app.example.com/cb')!, /only with a loopback IP/);
  assert.match(native('https://localhost/cb')!, /must not be https on a loopback host/);
  assert.match(native('myapp:/callback')!, /not a reverse domain name/);
});

test('dangerous schemes are refused for a native app', () => {
  for (const scheme of ['javascript', 'data', 'vbscript', 'file', 'blob', 'about']) {
    assert.match(native(`${scheme}:alert(1)`)!, new RegExp(`must not use the ${scheme} scheme`), scheme);
  }
});

test('wildcards, fragments, credentials and relative URIs are refused for every application type', () => {
  for (const check of [web, native]) {
    assert.match(check('https://*.example.com/cb')!, /wildcards/);
    assert.match(check('https://app.example.com/cb#frag')!, /fragment/);
    assert.match(check('https://user:pass@app.example.com/cb')!, /credentials/);
    assert.match(check('https://user@app.example.com/cb')!, /credentials/);
    assert.match(check('/callback')!, /not an absolute URI/);
    assert.match(check('')!, /not an absolute URI/);
  }
});

test('a URI longer than 2000 characters is refused before it is parsed', () => {
  const long = `https://app.example.com/${'a'.repeat(2000)}`;
  assert.equal(web(long), 'redirect URI is longer than 2000 characters');
  assert.equal(web(`https://app.example.com/${'a'.repeat(2000 - 24)}`), undefined, 'exactly 2000 is allowed');
});

test('the message names the URI and the label the caller gives it', () => {
  assert.equal(
    redirectUriProblem('http://app.example.com/bye', 'web', 'post-logout redirect URI'),
    'post-logout redirect URI http://app.example.com/bye must use https (http is allowed only for localhost, 127.0.0.1 and [::1])',
  );
});
