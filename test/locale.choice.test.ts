import assert from 'node:assert/strict';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { test } from 'node:test';
import Koa from 'koa';
import { pickLocale } from '../src/interactions/locales/index.ts';

/** Which of our languages a page is shown in, from the browser's Accept-Language (RFC 9110 §12.5.4). */
function lang(header: string | undefined) {
  const req = new IncomingMessage(new Socket());
  if (header !== undefined) req.headers['accept-language'] = header;
  return pickLocale(new Koa().createContext(req, new ServerResponse(req))).lang;
}

test('without a header, or with none of our languages, pages are in English', () => {
  assert.equal(lang(undefined), 'en');
  assert.equal(lang(''), 'en');
  assert.equal(lang('de-DE, ja;q=0.8'), 'en');
  assert.equal(lang('*'), 'en');
});

test('a regional tag chooses its language, in any case', () => {
  assert.equal(lang('fr-CA'), 'fr');
  assert.equal(lang('FR-fr'), 'fr');
  assert.equal(lang('en-GB'), 'en');
});

test('the highest q wins, whatever the order', () => {
  assert.equal(lang('en;q=0.5, fr;q=0.9'), 'fr');
  assert.equal(lang('fr;q=0.4,en'), 'en', 'no q means q=1');
  assert.equal(lang('fr ; q=0.7 , en ; q=0.6'), 'fr', 'spaces around separators');
});

test('at equal q the first listed wins', () => {
  assert.equal(lang('fr, en'), 'fr');
  assert.equal(lang('en;q=0.8, fr;q=0.8'), 'en');
});

test('a language we do not have is passed over for the next one we do', () => {
  assert.equal(lang('de-DE, de;q=0.9, fr;q=0.8, en;q=0.7'), 'fr');
});

test('q=0 means "not this one", and a malformed q is ignored with its tag', () => {
  assert.equal(lang('fr;q=0, en;q=0.1'), 'en');
  assert.equal(lang('fr;q=0'), 'en');
  assert.equal(lang('fr;q=abc, en;q=0.1'), 'en');
});

test('a long header is read whole (Node caps the headers at 16 KiB)', () => {
  assert.equal(lang(`${'x-padding;q=0.1, '.repeat(40)}fr`), 'fr');
  assert.equal(lang(`fr, ${'x'.repeat(10_000)}`), 'fr');
  assert.equal(lang(`${'x-padding, '.repeat(1_000)}`), 'en');
});
