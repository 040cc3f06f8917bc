// A real browser (Debian's Chromium, driven by playwright-core) using its native EventSource:
// the page served at /, a cookie-authorized private update that must arrive, and one that must not.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { launchChromium } from './lib/chromium.mjs';
import { Broker, jwt, PUBLISH_ALL } from './lib/broker.mjs';


// Resolves when an EventSource opens; rejects on error or after 5 s, so a test never hangs.
function defineOpened() {
  window.opened = (es) => new Promise((resolve, reject) => {
    es.onopen = resolve;
    es.onerror = () => reject(new Error('EventSource failed'));
    setTimeout(() => reject(new Error('EventSource did not open')), 5000);
  });
}
let broker;
let browser;

before(async () => {
  broker = await new Broker(['--workers', '2']).start();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await broker.stop();
});

test('native EventSource in Chromium receives matching public updates and no others', async () => {
  const page = await browser.newPage();
  await page.addInitScript(defineOpened);
  await page.goto(broker.base + '/');
  await page.evaluate(() => {
    window.got = [];
    const url = new URL('/.well-known/mercure', location.href);
    url.searchParams.append('topic', 'https://example.com/books/{id}');
    window.es = new EventSource(url);
    window.es.onmessage = (e) => window.got.push([e.lastEventId, e.data]);
    return window.opened(window.es);
  });
  await broker.publish({ topic: 'https://example.com/books/1', data: 'first', id: 'b-1' });
  await broker.publish({ topic: 'https://example.com/users/1', data: 'not for us', id: 'u-1' });
  await broker.publish({ topic: 'https://example.com/books/2', data: 'line1\nline2', id: 'b-2' });
  await page.waitForFunction(() => window.got.length >= 2, null, { timeout: 5000 });
  assert.deepEqual(await page.evaluate(() => window.got), [['b-1', 'first'], ['b-2', 'line1\nline2']]);
  await page.close();
});

test('cookie-authorized private updates: the allowed one arrives, the other never does', async () => {
  const context = await browser.newContext();
  await context.addCookies([{
    name: 'mercureAuthorization',
    value: jwt({ mercure: { subscribe: ['https://example.com/private/mine'] } }),
    url: broker.base,
  }]);
  const page = await context.newPage();
  await page.addInitScript(defineOpened);
  await page.goto(broker.base + '/');
  await page.evaluate(() => {
    window.got = [];
    const url = new URL('/.well-known/mercure', location.href);
    url.searchParams.append('topic', 'https://example.com/private/{who}');
    window.es = new EventSource(url, { withCredentials: true });
    window.es.onmessage = (e) => window.got.push(e.lastEventId);
    return window.opened(window.es);
  });
  await broker.publish({ topic: 'https://example.com/private/theirs', data: 'secret', private: 'on', id: 'priv-theirs' });
  await broker.publish({ topic: 'https://example.com/private/mine', data: 'for me', private: 'on', id: 'priv-mine' });
  await broker.publish({ topic: 'https://example.com/private/public', data: 'public', id: 'pub-1' });
  await page.waitForFunction(() => window.got.length >= 2, null, { timeout: 5000 });
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await page.evaluate(() => window.got), ['priv-mine', 'pub-1']);
  await context.close();
});

test('the page at / publishes and shows the update', async () => {
  const page = await browser.newPage();
  await page.goto(broker.base + '/');
  await page.fill('#token', PUBLISH_ALL);
  await page.fill('#topics', 'https://example.com/books/{id}');
  await page.click('#subscribe');
  await page.waitForFunction(() => document.getElementById('status').textContent === 'connected', null, { timeout: 5000 });
  await page.fill('#data', 'from the page');
  await page.click('#publish');
  await page.waitForFunction(() => document.getElementById('log').textContent.includes('from the page'),
    null, { timeout: 5000 });
  // The update can reach the stream before the page has read the POST's response: wait for both.
  await page.waitForFunction(() => document.getElementById('published').textContent !== '', null, { timeout: 5000 });
  assert.match(await page.textContent('#published'), /^published #[A-Za-z0-9_-]{12}$/);
  await page.close();
});
