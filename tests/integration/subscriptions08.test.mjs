// Mercure 1.0 subscription events and the subscriptions API beside draft-07's (issue 19,
// "Subscription events and API (1.0)"; spec/mercure.md at v1.0.0-alpha.3, "Active Subscriptions"):
// the event topic, body and SSE type per subscription dialect, the payload of the first matching
// subscribe detail, hub-generated subscriber ids, the 0/2/3-segment routes with the exact /
// urlpattern rule, the Link cursor, ETag and 304, CORS, path-only authorization, and the route
// collision with draft-07's /subscriptions/{topic}/{subscriber} (MERCURE-1.0.md Part B section 2
// rules 9-13). Real binary, raw sockets and fetch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, RawSubscriber, jwt, rawRequest } from './lib/broker.mjs';
import { RESOURCE, ISSUER, SUBS, enc, accessToken, grant, exact, pattern, presenceGrant, bearer } from './lib/mercure08.mjs';

const ORIGIN = 'https://app.example';
const T = 'https://laravel.alt/echo/channel/';
const at = accessToken;
const auth = bearer;

let broker;
before(async () => {
  broker = await new Broker(['--workers', '2', '--subscriptions', '--resource-identifier', RESOURCE,
    '--jwt-issuer', ISSUER, '--cors-origin', ORIGIN]).start();
});
after(async () => { await broker.stop(); });

const api = (path, headers = {}) => fetch(`${broker.base}${path}`, { headers });
const mercureEvents = (s) => s.events.filter((e) => e.event === 'mercure').map((e) => ({ ...JSON.parse(e.data), sseId: e.id }));

test('1.0 subscription events: topic, JSON body, event: mercure, private, payload of the first matching detail', async () => {
  const room = `${T}presence-room.1`;
  const watcherToken = at([presenceGrant(room, { id: 0, name: 'watcher' })]);
  const watcher = new RawSubscriber(broker.port, `?match_urlpattern=${enc(`${SUBS}/:match_type/${enc(room)}/:subscriber`)}`, auth(watcherToken));
  const anon = new RawSubscriber(broker.port, '?match=*');
  await Promise.all([watcher.ready(), anon.ready()]);
  assert.match(watcher.headers, /^HTTP\/1.1 200/);

  // The member's token: a broad default after the specific one (the first match wins).
  const member = at([presenceGrant(room, { id: 42, name: 'alice' }), grant(['subscribe'], [exact('*')], { default: true })]);
  const s = new RawSubscriber(broker.port, `?match=${enc(room)}`, { Cookie: `__Secure-mercure_access_token=${member}` });
  await s.ready();
  await watcher.waitFor((w) => mercureEvents(w).length >= 1);
  const [ev] = mercureEvents(watcher);
  assert.deepEqual(Object.keys(ev).sort(), ['active', 'id', 'match', 'match_type', 'payload', 'sseId', 'subscriber', 'type']);
  assert.equal(ev.type, 'subscription');
  assert.equal(ev.match_type, 'exact');
  assert.equal(ev.match, room);
  assert.equal(ev.active, true);
  assert.deepEqual(ev.payload, { id: 42, name: 'alice' });
  assert.match(ev.subscriber, /^urn:uuid:[0-9a-f-]{36}$/);
  assert.equal(ev.id, `${SUBS}/exact/${enc(room)}/${enc(ev.subscriber)}`);
  // The raw SSE frame: event type mercure, and no application listener (onmessage) sees it.
  assert.match(watcher.raw, /\nevent: mercure\n/);
  assert.ok(!watcher.events.some((e) => e.event === undefined && e.data.includes('"subscription"')));

  s.close();
  await watcher.waitFor((w) => mercureEvents(w).some((e) => e.active === false));
  const gone = mercureEvents(watcher).find((e) => e.active === false);
  assert.equal(gone.id, ev.id);
  assert.deepEqual(gone.payload, ev.payload);
  // Private: the anonymous match=* subscriber got none of it.
  await broker.publish({ topic: 'marker-1', data: 'x', id: 'sub08-marker-1' });
  await anon.waitFor((a) => a.events.some((e) => e.id === 'sub08-marker-1'));
  assert.ok(!anon.events.some((e) => e.event === 'mercure'), anon.raw);
  watcher.close();
  anon.close();
});

test('each part of the event topic is percent-encoded exactly once; urlpattern subscriptions have theirs; payload null when nothing matches', async () => {
  const watcher = new RawSubscriber(broker.port, `?match_urlpattern=${enc(`${SUBS}/*`)}`, auth(at([grant(['subscribe'], [pattern(`${SUBS}/*`)])])));
  await watcher.ready();
  const odd = 'https://example.com/a%20b/c d?x=1&y=é';
  const token = at([grant(['subscribe'], [pattern('https://example.com/rooms/:id')], { p: 'pattern' }), grant(['subscribe'], [exact('unrelated')], { p: 'other' })]);
  const s = new RawSubscriber(broker.port, `?match=${enc(odd)}&match_urlpattern=${enc('https://example.com/rooms/:id')}`, auth(token));
  await s.ready();
  const mine = (e) => e.match === odd || e.match === 'https://example.com/rooms/:id';
  await watcher.waitFor((w) => mercureEvents(w).filter(mine).length >= 2);
  const byType = Object.fromEntries(mercureEvents(watcher).filter(mine).map((e) => [e.match_type, e]));
  assert.equal(byType.exact.match, odd);
  assert.equal(byType.exact.id, `${SUBS}/exact/${enc(odd)}/${enc(byType.exact.subscriber)}`);
  assert.ok(byType.exact.id.includes('a%2520b'), 'a % in the matcher is encoded once more, never left as is');
  assert.ok(!('payload' in byType.exact), 'no detail matches the exact matcher string: no payload');
  assert.equal(byType.urlpattern.match, 'https://example.com/rooms/:id');
  assert.deepEqual(byType.urlpattern.payload, { p: 'pattern' }, 'a pattern grant matches the identical pattern string');
  assert.equal(byType.urlpattern.subscriber, byType.exact.subscriber, 'one connection, one subscriber id');
  s.close();
  watcher.close();
});

test('subscriber ids come from the hub, one per connection, even for one token used twice', async () => {
  const watcher = new RawSubscriber(broker.port, `?match_urlpattern=${enc(`${SUBS}/exact/:m/:s`)}`, auth(at([grant(['subscribe'], [exact('*')])])));
  await watcher.ready();
  const token = at([grant(['subscribe'], [exact('tabs')], { user: 7 })], { sub: 'same-user' });
  const tab1 = new RawSubscriber(broker.port, '?match=tabs&subscriber=forged', auth(token));
  const tab2 = new RawSubscriber(broker.port, '?match=tabs', { ...auth(token), 'Mercure-Subscriber': 'forged' });
  await Promise.all([tab1.ready(), tab2.ready()]);
  await watcher.waitFor((w) => mercureEvents(w).filter((e) => e.match === 'tabs').length >= 2);
  const ids = mercureEvents(watcher).filter((e) => e.match === 'tabs').map((e) => e.subscriber);
  assert.equal(new Set(ids).size, 2);
  for (const id of ids) assert.ok(!id.includes('forged') && !id.includes('same-user'), id);
  tab1.close();
  tab2.close();
  watcher.close();
});

test('both event shapes: a topic= subscription keeps draft-07 JSON-LD on its own topic, with no SSE type (rule 9)', async () => {
  const subAll = at([grant(['subscribe'], [exact('*')])]);
  const watcher = new RawSubscriber(broker.port, '?match=*', auth(subAll));
  await watcher.ready();
  const token07 = jwt({ mercure: { subscribe: ['*'], payload: { legacy: true } } });
  const s07 = new RawSubscriber(broker.port, `?topic=${enc('https://example.com/shapes/{id}')}`, auth(token07));
  const s08 = new RawSubscriber(broker.port, `?match=${enc('https://example.com/shapes/1')}`, auth(subAll));
  await Promise.all([s07.ready(), s08.ready()]);
  await watcher.waitFor((w) => w.events.filter((e) => e.data.includes('/shapes/')).length >= 2);
  const e07 = watcher.events.find((e) => e.data.includes('shapes/{id}'));
  const e08 = watcher.events.find((e) => e.data.includes('shapes/1'));
  assert.equal(e07.event, undefined, 'draft-07 subscription events have no SSE type (onmessage sees them)');
  const d07 = JSON.parse(e07.data);
  assert.equal(d07['@context'], 'https://mercure.rocks/');
  assert.equal(d07.type, 'Subscription');
  assert.equal(d07.topic, 'https://example.com/shapes/{id}');
  assert.deepEqual(d07.payload, { legacy: true }, "a draft-07 token's payload is token-wide (rule 13)");
  assert.equal(d07.id, `${SUBS}/${enc('https://example.com/shapes/{id}')}/${enc(d07.subscriber)}`);
  assert.equal(e08.event, 'mercure');
  const d08 = JSON.parse(e08.data);
  assert.equal(d08.type, 'subscription');
  assert.equal(d08['@context'], undefined);
  assert.equal(d08.match_type, 'exact');
  s07.close();
  s08.close();
  watcher.close();
});

test('the 1.0 API: collection, per-matcher collection, single subscription, Link cursor, ETag and 304, CORS', async () => {
  // A broker of its own: a stream of an earlier test ending late would change the list (and
  // the entity-tag) under the 304 asserted here.
  const shared = broker;
  broker = await new Broker(['--subscriptions', '--resource-identifier', RESOURCE, '--jwt-issuer', ISSUER,
    '--cors-origin', ORIGIN]).start();
  try {
    await apiCase();
  } finally {
    await broker.stop();
    broker = shared;
  }
});

async function apiCase() {
  const topic = `${T}presence-api.1`;
  const token = at([presenceGrant(topic, { id: 1, name: 'bob' })]);
  const s = new RawSubscriber(broker.port, `?match=${enc(topic)}&match=${enc(`${T}other`)}`, auth(token));
  await s.ready();
  const adminToken = at([grant(['subscribe'], [exact('*')])]);

  // 2 segments, as Echo asks for its presence snapshot, authorized by the Laravel pattern grant.
  const path = `${SUBS}/exact/${enc(topic)}`;
  const res = await api(path, { Cookie: `__Secure-mercure_access_token=${token}`, Origin: ORIGIN });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
  assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
  assert.match(res.headers.get('access-control-expose-headers'), /\bLink\b/);
  assert.match(res.headers.get('cache-control'), /must-revalidate/);
  const link = res.headers.get('link');
  assert.match(link, new RegExp(`^<${RESOURCE}>; rel="mercure"; last-event-id="[^"]+"; type="mercure"; content-type="application/json"$`));
  const etag = res.headers.get('etag');
  assert.match(etag, /^"[^"]+"$/);
  const doc = await res.json();
  assert.deepEqual(Object.keys(doc).sort(), ['id', 'subscriptions', 'type']);
  assert.equal(doc.id, path);
  assert.equal(doc.type, 'subscriptions');
  assert.equal(doc.subscriptions.length, 1);
  const one = doc.subscriptions[0];
  assert.equal(one.match, topic);
  assert.deepEqual(one.payload, { id: 1, name: 'bob' });

  // The single subscription: the event document, unchanged.
  const single = await api(one.id, auth(token));
  assert.equal(single.status, 200);
  assert.deepEqual(await single.json(), one);
  assert.equal((await api(`${path}/${enc('urn:uuid:00000000-0000-4000-8000-000000000000')}`, auth(token))).status, 404);

  // 304 while nothing changed, 200 again once the list changed.
  const again = await api(path, { ...auth(token), 'If-None-Match': etag });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get('etag'), etag);
  assert.equal(await again.text(), '');
  assert.equal((await api(path, { ...auth(token), 'If-None-Match': `"other", ${etag}` })).status, 304);

  // The whole collection, for a token allowed on it.
  const all = await (await api(SUBS, auth(adminToken))).json();
  assert.equal(all.type, 'subscriptions');
  assert.ok(all.subscriptions.some((x) => x.id === one.id));
  assert.ok(all.subscriptions.some((x) => x.match === `${T}other`));

  s.close();
  // The stream's end reaches the registry when the broker sees the connection close.
  let after;
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    after = await api(path, { ...auth(token), 'If-None-Match': etag });
    if (after.status !== 304) break;
  }
  assert.equal(after.status, 200);
  assert.notEqual(after.headers.get('etag'), etag);
  assert.deepEqual((await after.json()).subscriptions, []);
  assert.equal((await api(one.id, auth(token))).status, 404);
}

test('1.0 API authorization: the path alone against subscribe grants, 401 bare or invalid_token, 403 insufficient_scope', async () => {
  const topic = `${T}presence-auth.1`;
  const token = at([presenceGrant(topic, { id: 2 })]);
  const path = `${SUBS}/exact/${enc(topic)}`;
  assert.equal((await api(`${path}?last_event_id=x&y=z`, auth(token))).status, 200, 'the query is not part of the topic');
  assert.equal((await api(`${SUBS}/urlpattern/${enc(topic)}`, auth(token))).status, 200, ':match_type covers both types');
  const denied = await api(SUBS, auth(token));
  assert.equal(denied.status, 403);
  assert.match(denied.headers.get('www-authenticate'), /error="insufficient_scope"/);
  assert.equal((await api(`${SUBS}/exact/${enc(`${T}presence-other`)}`, auth(token))).status, 403);
  // An exact grant on the relative path works byte for byte, and only there.
  const exactToken = at([grant(['subscribe'], [exact(path)])]);
  assert.equal((await api(path, auth(exactToken))).status, 200);
  assert.equal((await api(`${path}/x`, auth(exactToken))).status, 403);
  // A grant on the topic itself is not one on its subscriptions.
  assert.equal((await api(path, auth(at([grant(['subscribe'], [exact(topic)])])))).status, 403);
  const none = await api(path);
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'),
    'Bearer resource_metadata="https://hub.example/.well-known/oauth-protected-resource/.well-known/mercure"');
  const expired = await api(path, auth(at([grant(['subscribe'], [exact('*')])], { exp: 1000 })));
  assert.equal(expired.status, 401);
  assert.match(expired.headers.get('www-authenticate'), /invalid_token/);
  // A 1.0 token in the URL is never used.
  assert.equal((await api(`${path}?authorization=${token}`)).status, 401);
});

test('route collision: /subscriptions/X/Y is 1.0 when X is exact or urlpattern, else draft-07 topic/subscriber (rule 10)', async () => {
  const token07 = jwt({ mercure: { subscribe: ['*'] } });
  const topic = 'https://example.com/collide/1';
  const s07 = new RawSubscriber(broker.port, `?topic=${enc(topic)}`, auth(token07));
  // A draft-07 selector that is literally "exact": the one collision left.
  const sExact = new RawSubscriber(broker.port, '?topic=exact', auth(token07));
  await Promise.all([s07.ready(), sExact.ready()]);
  const list = await (await api(`${SUBS}/${enc(topic)}`, auth(token07))).json();
  assert.equal(list.type, 'Subscriptions');
  const [rec] = list.subscriptions;
  const one = await api(`${SUBS}/${enc(topic)}/${enc(rec.subscriber)}`, auth(token07));
  assert.equal(one.status, 200);
  assert.match(one.headers.get('content-type'), /application\/ld\+json/);
  const doc = await one.json();
  assert.equal(doc['@context'], 'https://mercure.rocks/');
  assert.equal(doc.topic, topic);
  assert.ok(doc.lastEventID);
  // /subscriptions/exact/{subscriber}: read as 1.0 (match_type exact, match = that text).
  const exactList = await (await api(`${SUBS}/exact`, auth(token07))).json();
  const sub = exactList.subscriptions[0].subscriber;
  const collided = await api(`${SUBS}/exact/${enc(sub)}`, auth(token07));
  assert.equal(collided.status, 200);
  assert.equal(collided.headers.get('content-type'), 'application/json');
  assert.deepEqual((await collided.json()).subscriptions, []);
  // Three segments with an unknown type: 400; four: 404.
  const bad = await api(`${SUBS}/regexp/a/b`, auth(token07));
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /matcher type/);
  assert.equal((await api(`${SUBS}/exact/a/b/c`, auth(token07))).status, 404);
  for (const bad of [`${SUBS}/exact/%zz`, `${SUBS}/%E/x/y`, `${SUBS}/x%`]) {
    const res = await api(bad, auth(token07));
    assert.equal(res.status, 400, bad);
    assert.match(await res.text(), /percent-encoding/);
  }
  s07.close();
  sExact.close();
});

test('the whole collection: JSON-LD for a draft-07 token, JSON for a 1.0 one (or JSON-LD when asked), each subscription in its own shape (rule 11)', async () => {
  const token07 = jwt({ mercure: { subscribe: ['*'] } });
  const token08 = at([grant(['subscribe'], [exact('*')])]);
  const s07 = new RawSubscriber(broker.port, '?topic=mixed-07', auth(token07));
  const s08 = new RawSubscriber(broker.port, '?match=mixed-08', auth(token08));
  await Promise.all([s07.ready(), s08.ready()]);
  const r07 = await api(SUBS, auth(token07));
  assert.match(r07.headers.get('content-type'), /application\/ld\+json/);
  const d07 = await r07.json();
  assert.equal(d07.type, 'Subscriptions');
  assert.ok(d07.lastEventID);
  const r08 = await api(SUBS, auth(token08));
  assert.equal(r08.headers.get('content-type'), 'application/json');
  const d08 = await r08.json();
  assert.equal(d08.type, 'subscriptions');
  assert.equal(d08.lastEventID, undefined);
  for (const d of [d07, d08]) {
    const a = d.subscriptions.find((x) => x.topic === 'mixed-07');
    const b = d.subscriptions.find((x) => x.match === 'mixed-08');
    assert.equal(a.type, 'Subscription');
    assert.equal(b.type, 'subscription');
    assert.equal(b.match_type, 'exact');
  }
  assert.notEqual(r07.headers.get('etag'), r08.headers.get('etag'), 'two representations, two entity-tags');
  const ld = await api(SUBS, { ...auth(token08), Accept: 'application/ld+json' });
  assert.equal((await ld.json()).type, 'Subscriptions');
  s07.close();
  s08.close();
});

test('--dialects 08 and 07 alone: the other dialect\'s routes are gone', async () => {
  const only08 = await new Broker(['--subscriptions', '--dialects', '08', '--resource-identifier', RESOURCE, '--jwt-issuer', ISSUER]).start();
  const only07 = await new Broker(['--subscriptions', '--dialects', '07']).start();
  try {
    const t08 = at([grant(['subscribe'], [exact('*')])]);
    const get = (b, path, token) => fetch(`${b.base}${path}`, { headers: auth(token) });
    assert.equal((await get(only08, `${SUBS}/topic`, t08)).status, 404);
    assert.equal((await get(only08, `${SUBS}/topic/subscriber`, t08)).status, 400);
    assert.equal((await get(only08, `${SUBS}/exact/x`, t08)).status, 200);
    assert.equal((await get(only08, SUBS, t08)).status, 200);
    const t07 = jwt({ mercure: { subscribe: ['*'] } });
    assert.equal((await get(only07, `${SUBS}/exact/x/y`, t07)).status, 404);
    assert.equal((await get(only07, `${SUBS}/exact/x`, t07)).status, 404, 'draft-07 topic "exact", subscriber "x": none');
    assert.equal((await get(only07, `${SUBS}/exact`, t07)).status, 200);
  } finally {
    await only08.stop();
    await only07.stop();
  }
});

test('a cross-origin preflight for the API is answered for listed origins only', async () => {
  const out = await rawRequest(broker.port, `OPTIONS ${SUBS}/exact/x HTTP/1.1\r\nHost: a\r\nOrigin: ${ORIGIN}\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n`);
  assert.match(out, /^HTTP\/1.1 204/);
  assert.match(out, /Access-Control-Allow-Headers: [^\r]*Authorization/);
  const other = await rawRequest(broker.port, `OPTIONS ${SUBS}/exact/x HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n`);
  assert.match(other, /^HTTP\/1.1 403/);
});
