// Mercure's own conformance suite (dunglas/mercure conformance-tests/mercure.spec.ts), its cases
// reproduced here rather than run from a checkout (issue 19, "Proof"): the v1.0.0-alpha.3 rows
// (match= / match_urlpattern=, an at+jwt publisher token) and the v0.24.2 rows (topic= with URI
// templates, a draft-07 token), both against one broker with both dialects on, in Debian's
// Chromium through playwright-core, as the suite runs them: a page on the hub's origin opens an
// anonymous EventSource, POSTs the update with fetch (a custom id, CUSTOM_ID=1, and multi-line
// data with a blank line and indentation), and must (or must not) get it within 2 s as a plain
// `message` with that id and data; a received update's POST answered 200, text/plain, body = id.
// Each test names the upstream row it mirrors. The upstream tokens are rebuilt from their claims:
// the 1.0 one has aud https://localhost/.well-known/mercure, iss https://localhost, exp
// 4102444800 and no sub/iat/jti/client_id, so the broker pins that resource identifier and issuer.
// The upstream suites themselves, unmodified, from a git mirror of dunglas/mercure (by hand; README
// "Running Mercure's own conformance suites by hand"): `bash scripts/upstream-conformance.sh
// MIRROR_GIT_DIR` (@playwright/test 1.60.0 / 1.59.1 as locked, Chromium 156.0.8078.114) passed
// 10/10 and 11/11 on 2026-12-06; keep these rows in line with theirs when a tag changes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { launchChromium } from './lib/chromium.mjs';
import { Broker, jwt } from './lib/broker.mjs';

const DETAIL = 'https://mercure.rocks/authorization-detail';

const TOKEN_08 = jwt({
  aud: 'https://localhost/.well-known/mercure', iss: 'https://localhost',
  authorization_details: [{ type: DETAIL, actions: ['publish'], topics: [{ match: '*' }] },
    { type: DETAIL, actions: ['subscribe'], topics: [{ match: '*' }] }],
  exp: 4102444800,
}, { header: { typ: 'at+jwt' } });
const TOKEN_07 = jwt({ mercure: { publish: ['*'], subscribe: ['*'] } }, { header: { typ: undefined } });

const rnd = () => crypto.randomBytes(20).toString('hex');

// v1.0.0-alpha.3: conformance-tests/mercure.spec.ts, describe("Publish update").
const r08 = Array.from({ length: 6 }, rnd);
const ROWS_08 = [
  { name: 'raw string', received: true, topics: [r08[0]], selectors: [r08[0]] },
  { name: 'multiple topic selectors', received: true, topics: [r08[2]], selectors: ['foo', r08[2]] },
  { name: 'URI', received: true, topics: [`https://example.net/foo/${r08[3]}`], selectors: [`https://example.net/foo/${r08[3]}`] },
  { name: 'URL pattern', received: true, topics: [`https://example.net/foo/${r08[4]}`], selectors: ['https://example.net/foo/:random'] },
  { name: 'nonmatching raw string', received: false, topics: ['will-not-match'], selectors: ['another-name'] },
  { name: 'nonmatching URI', received: false, topics: ['https://example.net/foo/will-not-match'], selectors: ['https://example.net/foo/another-name'] },
  { name: 'nonmatching URL pattern', received: false, topics: ['https://example.net/foo/will-not-match'], selectors: ['https://example.net/bar/:var'] },
  { name: 'private raw string', received: false, private: true, topics: [r08[0]], selectors: [r08[0]] },
  { name: 'private URI', received: false, private: true, topics: [`https://example.net/foo/${r08[3]}`], selectors: [`https://example.net/foo/${r08[3]}`] },
  { name: 'private URL pattern', received: false, private: true, topics: [`https://example.net/foo/${r08[4]}`], selectors: ['https://example.net/foo/:random'] },
];

// v0.24.2: the same file at that tag (topic= selectors, URI templates, alternate topics).
const r07 = Array.from({ length: 6 }, rnd);
const ROWS_07 = [
  { name: 'raw string', received: true, topics: [r07[0]], selectors: [r07[0]] },
  { name: 'multiple topics', received: true, topics: [rnd(), r07[1]], selectors: [r07[1]] },
  { name: 'multiple topic selectors', received: true, topics: [r07[2]], selectors: ['foo', r07[2]] },
  { name: 'URI', received: true, topics: [`https://example.net/foo/${r07[3]}`], selectors: [`https://example.net/foo/${r07[3]}`] },
  { name: 'URI template', received: true, topics: [`https://example.net/foo/${r07[4]}`], selectors: ['https://example.net/foo/{random}'] },
  { name: 'nonmatching raw string', received: false, topics: ['will-not-match}'], selectors: ['another-name'] },
  { name: 'nonmatching URI', received: false, topics: ['https://example.net/foo/will-not-match}'], selectors: ['https://example.net/foo/another-name'] },
  { name: 'nonmatching URI template', received: false, topics: ['https://example.net/foo/will-not-match}'], selectors: ['https://example.net/bar/{var}'] },
  { name: 'private raw string', received: false, private: true, topics: [r07[0]], selectors: [r07[0]] },
  { name: 'private URI', received: false, private: true, topics: [`https://example.net/foo/${r07[3]}`], selectors: [`https://example.net/foo/${r07[3]}`] },
  { name: 'private URI template', received: false, private: true, topics: [`https://example.net/foo/${r07[4]}`], selectors: ['https://example.net/foo/{random}'] },
];

let broker, browser;
before(async () => {
  broker = await new Broker(['--workers', '2', '--resource-identifier', 'https://localhost/.well-known/mercure',
    '--jwt-issuer', 'https://localhost']).start();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await broker?.stop();
});

// One row, in the page: subscribe, publish once open, wait for the update (2 s at most).
async function runRow(row, dialect, token) {
  const page = await browser.newPage();
  try {
    await page.goto(broker.base + '/');
    return await page.evaluate(async ({ row, dialect, token }) => {
      const url = new URL('/.well-known/mercure', window.origin);
      for (const s of row.selectors) {
        // 1.0: a selector with a :name placeholder goes through the URL Pattern matcher.
        const name = dialect === '07' ? 'topic' : /\/:[A-Za-z_]/.test(s) ? 'match_urlpattern' : 'match';
        url.searchParams.append(name, s);
      }
      const form = new URLSearchParams();
      for (const t of row.topics) form.append('topic', t);
      const id = `id-${JSON.stringify(row.topics)}`;
      form.set('id', id);
      form.set('data', `data for\n\n        ${row.name}`);
      if (row.private) form.set('private', 'on');
      const es = new EventSource(url);
      let gotIt;
      const got = new Promise((resolve) => { gotIt = resolve; });
      es.onmessage = (e) => {
        if (e.type === 'message' && e.lastEventId === id && e.data === form.get('data')) gotIt(true);
      };
      await new Promise((resolve, reject) => { es.onopen = resolve; setTimeout(() => reject(new Error('no open')), 5000); });
      const res = await fetch('/.well-known/mercure', { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form });
      const body = await res.text();
      const received = await Promise.race([got, new Promise((resolve) => setTimeout(resolve, 2000, false))]);
      es.close();
      return { received, status: res.status, contentType: res.headers.get('Content-Type'), body, id };
    }, { row, dialect, token });
  } finally {
    await page.close();
  }
}

function check(out, row) {
  // Upstream checks the publish only for received rows; here every publish must be accepted, or a
  // refused one (token, id, topic) would pass the "nonmatching" and "private" rows vacuously.
  assert.equal(out.status, 200, `publish answered ${out.status}: ${out.body}`);
  assert.equal(out.received, row.received);
  if (row.received) {
    assert.match(out.contentType, /^text\/plain(?:$|;.*)/);
    assert.equal(out.body, out.id); // CUSTOM_ID=1
  }
}

for (const row of ROWS_08) {
  test(`v1.0.0-alpha.3 conformance "Publish update > ${row.name}"`, async () => check(await runRow(row, '08', TOKEN_08), row));
}
for (const row of ROWS_07) {
  test(`v0.24.2 conformance "Publish update > ${row.name}"`, async () => check(await runRow(row, '07', TOKEN_07), row));
}
