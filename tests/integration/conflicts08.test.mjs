// One hub, both dialects at once: the conflict rules of MERCURE-1.0.md Part B section 2 that no
// other suite covers on its own, one test each, through the real binary. Covered elsewhere:
// rule 1 (mixed request) and 3/4 (replay parameters, both response headers) in mercure08.test.mjs;
// 6 (token in the URL) in tokens08.test.mjs; 8 and 14 (publish status codes, reserved namespace)
// in mercure08.test.mjs "publish: both drafts' rules"; 9, 10 and 11 (event shapes, route
// collision, API representation) in subscriptions08.test.mjs; 15 (CORS) in mercure.test.mjs for
// draft-07 requests and below for 1.0 ones.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, RawSubscriber, jwt } from './lib/broker.mjs';
import { RESOURCE, ISSUER, SUBS, accessToken, grant, bearer } from './lib/mercure08.mjs';

const enc = encodeURIComponent;
const at = (details, claims = {}) => accessToken(details, { sub: 's', client_id: undefined, ...claims });
const auth = bearer;
const PUB07 = jwt({ mercure: { publish: ['*'], subscribe: ['*'] } });
const PUB08 = at([grant(['publish', 'subscribe'], [{ match: '*' }])]);

let broker;
before(async () => {
  broker = await new Broker(['--workers', '2', '--subscriptions', '--resource-identifier', RESOURCE, '--jwt-issuer', ISSUER]).start();
});
after(async () => { await broker.stop(); });

const ids = (s) => s.events.filter((e) => e.event === undefined).map((e) => e.id);

test('rule 2, selector syntax: one string, three readings (topic= template, match= exact, match_urlpattern= pattern)', async () => {
  const text = 'https://example.com/{x}';
  const tpl = new RawSubscriber(broker.port, `?topic=${enc(text)}`);
  const exact = new RawSubscriber(broker.port, `?match=${enc(text)}`);
  const pattern = new RawSubscriber(broker.port, `?match_urlpattern=${enc(text)}`);
  const subs = [tpl, exact, pattern];
  await Promise.all(subs.map((s) => s.ready()));
  await broker.publish({ topic: 'https://example.com/anything', id: 'r2-any' });
  await broker.publish({ topic: text, id: 'r2-literal' });
  await broker.publish({ topic: 'https://example.com/x', id: 'r2-x' });
  await broker.publish({ topic: 'r2-end', id: 'r2-end' });
  const end = new RawSubscriber(broker.port, '?match=r2-end');
  await end.ready();
  await broker.publish({ topic: 'r2-end', id: 'r2-end2' });
  await end.waitFor((s) => ids(s).includes('r2-end2'));
  // The template matches every expansion of {x} ("x", "anything") and, as draft-07 does, its
  // own text; match= only its bytes; the URL Pattern's {x} is a group matching "x" alone.
  assert.deepEqual(ids(tpl), ['r2-any', 'r2-literal', 'r2-x']);
  assert.deepEqual(ids(exact), ['r2-literal']);
  assert.deepEqual(ids(pattern), ['r2-x']);
  for (const s of [...subs, end]) s.close();
});

test('rule 5, token binding: an at+jwt token is judged only by its authorization_details, any other only by its mercure claim', async () => {
  // 1.0 token with draft-07 grants and no details: grants nothing.
  const hybrid08 = at([], { mercure: { publish: ['*'], subscribe: ['*'] } });
  const r1 = await broker.publish({ topic: 'r5', data: 'x' }, { token: hybrid08 });
  assert.equal(r1.status, 403, r1.body);
  assert.match(r1.headers.get('www-authenticate'), /insufficient_scope/);
  // draft-07 token with 1.0 details and no mercure claim: grants nothing either.
  const hybrid07 = jwt({ authorization_details: [grant(['publish'], [{ match: '*' }])] });
  const r2 = await broker.publish({ topic: 'r5', data: 'x' }, { token: hybrid07 });
  assert.equal(r2.status, 403, r2.body);
  // A draft-07 token with a 1.0 token's claims (iss, aud, exp) is still judged by 07 rules: its
  // mercure claim publishes; a wrong aud does not matter to it, and matters to an at+jwt token.
  const now = Math.floor(Date.now() / 1000);
  const as07 = jwt({ iss: ISSUER, aud: 'https://elsewhere.example', exp: now + 60, mercure: { publish: ['*'] } });
  assert.equal((await broker.publish({ topic: 'r5', data: 'x' }, { token: as07 })).status, 200);
  const wrongAud = at([grant(['publish'], [{ match: '*' }])], { aud: 'https://elsewhere.example' });
  const r3 = await broker.publish({ topic: 'r5', data: 'x' }, { token: wrongAud });
  assert.equal(r3.status, 401);
  assert.match(r3.headers.get('www-authenticate'), /invalid_token/);
  // The same binding for private delivery.
  const sub08 = new RawSubscriber(broker.port, '?match=r5-private', auth(at([], { mercure: { subscribe: ['*'] } })));
  const sub07 = new RawSubscriber(broker.port, '?match=r5-private', auth(jwt({ mercure: { subscribe: ['r5-private'] } })));
  await Promise.all([sub08.ready(), sub07.ready()]);
  await broker.publish({ topic: 'r5-private', data: 'x', private: 'on', id: 'r5-p' });
  await broker.publish({ topic: 'r5-private', data: 'x', id: 'r5-public' });
  await sub08.waitFor((s) => ids(s).includes('r5-public'));
  await sub07.waitFor((s) => ids(s).includes('r5-public'));
  assert.deepEqual(ids(sub08), ['r5-public']);
  assert.deepEqual(ids(sub07), ['r5-p', 'r5-public']);
  sub08.close();
  sub07.close();
});

test('rule 7, cookie names: either cookie serves either request dialect; the 1.0 cookie is tried first', async () => {
  const t08 = at([grant(['subscribe'], [{ match: 'r7' }])]);
  const t07 = jwt({ mercure: { subscribe: ['r7'] } });
  const cases = [
    ['?topic=r7', `__Secure-mercure_access_token=${t08}`, true],
    ['?match=r7', `mercureAuthorization=${t07}`, true],
    // Both present: the 1.0 cookie is used (here it grants nothing, so nothing private arrives).
    ['?match=r7', `mercureAuthorization=${t07}; __Secure-mercure_access_token=${at([])}`, false],
  ];
  const subs = cases.map(([q, cookie]) => new RawSubscriber(broker.port, q, { Cookie: cookie }));
  await Promise.all(subs.map((s) => s.ready()));
  await broker.publish({ topic: 'r7', data: 'x', private: 'on', id: 'r7-p' });
  await broker.publish({ topic: 'r7', data: 'x', id: 'r7-end' });
  for (const [i, s] of subs.entries()) {
    await s.waitFor((x) => ids(x).includes('r7-end'));
    assert.deepEqual(ids(s), cases[i][2] ? ['r7-p', 'r7-end'] : ['r7-end'], `case ${i}`);
    s.close();
  }
});

test('rule 12, API authorization form: a draft-07 token may match the full URL, a 1.0 token only the path', async () => {
  const path = `${SUBS}/exact/r12`;
  const withQuery = `${path}?foo=bar`;
  const t07 = jwt({ mercure: { subscribe: [withQuery] } });
  const t08 = at([grant(['subscribe'], [{ match: withQuery }])]);
  const get = (p, t) => fetch(`${broker.base}${p}`, { headers: auth(t) });
  assert.equal((await get(withQuery, t07)).status, 200);
  assert.equal((await get(withQuery, t08)).status, 403, 'the query is not part of a 1.0 topic');
  assert.equal((await get(withQuery, at([grant(['subscribe'], [{ match: path }])]))).status, 200);
  // A relative URL pattern grant resolves against --resource-identifier; an absolute one on
  // another host does not cover the hub's paths.
  assert.equal((await get(path, at([grant(['subscribe'], [{ match: `${SUBS}/*`, match_type: 'urlpattern' }])]))).status, 200);
  assert.equal((await get(path, at([grant(['subscribe'], [{ match: `https://other.example${SUBS}/*`, match_type: 'urlpattern' }])]))).status, 403);
});

test('rule 13, payload source follows the token: token-wide for draft-07, first matching detail for 1.0, whatever the subscription', async () => {
  const watcher = new RawSubscriber(broker.port, `?match_urlpattern=${enc(`${SUBS}/*`)}`, auth(PUB08));
  await watcher.ready();
  const t07 = jwt({ mercure: { subscribe: ['*'], payload: { from: '07' } } });
  const t08 = at([grant(['subscribe'], [{ match: 'r13-b' }], { from: '08-b' }), grant(['subscribe'], [{ match: '*' }], { from: '08-default' })]);
  const a = new RawSubscriber(broker.port, '?match=r13-a', auth(t07)); // 1.0 subscription, draft-07 token
  const b = new RawSubscriber(broker.port, '?topic=r13-b&topic=r13-c', auth(t08)); // draft-07 subscriptions, 1.0 token
  await Promise.all([a.ready(), b.ready()]);
  const docs = () => watcher.events.map((e) => JSON.parse(e.data)).filter((d) => /r13-/.test(d.match ?? d.topic ?? ''));
  await watcher.waitFor(() => docs().length >= 3);
  const by = Object.fromEntries(docs().map((d) => [d.match ?? d.topic, d]));
  assert.equal(by['r13-a'].type, 'subscription');
  assert.deepEqual(by['r13-a'].payload, { from: '07' });
  assert.equal(by['r13-b'].type, 'Subscription');
  assert.deepEqual(by['r13-b'].payload, { from: '08-b' });
  assert.deepEqual(by['r13-c'].payload, { from: '08-default' });
  a.close();
  b.close();
  watcher.close();
});

test('both at once: either dialect publishes, both subscribers get it with one id, and each resumes from an id of the other', async () => {
  const topic = 'https://example.com/both/1';
  const s07 = new RawSubscriber(broker.port, `?topic=${enc('https://example.com/both/{n}')}`);
  const s08 = new RawSubscriber(broker.port, `?match=${enc(topic)}`);
  await Promise.all([s07.ready(), s08.ready()]);
  const p07 = await broker.publish({ topic, data: 'from 07' }, { token: PUB07 });
  const p08 = await broker.publish({ topic, data: 'from 08' }, { token: PUB08 });
  const p3 = await broker.publish({ topic, data: 'third', id: 'both-3' }, { token: PUB07 });
  assert.deepEqual([p07.status, p08.status, p3.status], [200, 200, 200]);
  for (const s of [s07, s08]) {
    await s.waitFor((x) => ids(x).includes('both-3'));
    assert.deepEqual(ids(s), [p07.body, p08.body, 'both-3']);
    s.close();
  }
  // Replay: a draft-07 subscriber resumes after the 1.0 publisher's update, a 1.0 one after the
  // draft-07 publisher's.
  const r07 = new RawSubscriber(broker.port, `?topic=${enc(topic)}&lastEventID=${enc(p08.body)}`);
  const r08 = new RawSubscriber(broker.port, `?match=${enc(topic)}&last_event_id=${enc(p07.body)}`);
  await r07.waitFor((x) => ids(x).includes('both-3'));
  await r08.waitFor((x) => ids(x).includes('both-3'));
  assert.deepEqual(ids(r07), ['both-3']);
  assert.deepEqual(ids(r08), [p08.body, 'both-3']);
  assert.match(r07.headers, new RegExp(`\r\nLast-Event-ID: ${p08.body}\r\n`));
  assert.match(r08.headers, new RegExp(`\r\nMercure-Last-Event-ID: ${p07.body}\r\n`));
  r07.close();
  r08.close();
});

test('rule 15, CORS for 1.0 requests too: credentials only for listed origins, "*" never with credentials', async () => {
  const hub = await new Broker(['--cors-origin', '* https://app.example', '--resource-identifier', RESOURCE, '--jwt-issuer', ISSUER]).start();
  try {
    const head = async (origin) => {
      const res = await fetch(hub.url('?match=r15'), { method: 'HEAD', headers: { Origin: origin } });
      return [res.headers.get('access-control-allow-origin'), res.headers.get('access-control-allow-credentials')];
    };
    assert.deepEqual(await head('https://app.example'), ['https://app.example', 'true']);
    assert.deepEqual(await head('https://evil.example'), ['*', null]);
    // Publish answers follow the same list.
    const pub = await hub.publish({ topic: 'r15', data: 'x' }, { token: PUB08, headers: { Origin: 'https://evil.example' } });
    assert.equal(pub.headers.get('access-control-allow-credentials'), null);
    assert.equal(pub.headers.get('access-control-allow-origin'), '*');
  } finally {
    await hub.stop();
  }
});
