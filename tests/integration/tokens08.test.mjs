// Mercure 1.0 tokens (at+jwt) next to draft-07 ones, through the real binary: trusted issuer,
// audience, exp, authorization_details grants for publishing and for private delivery, the 1.0
// cookie, no 1.0 token from the URL, and the binding rule under --dialects 07, 08 and both.
// Subscriptions here use draft-07's topic= routing: what a token allows does not depend on how
// the subscriber routes (MERCURE-1.0.md, conflict rule 5).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { BIN, Broker, RawSubscriber, jwt, PUBLISH_ALL, HUB, sleep } from './lib/broker.mjs';
import { RESOURCE, ISSUER, DETAIL, accessToken, grantExact } from './lib/mercure08.mjs';

const T = 'https://laravel.alt/echo/channel/';
// An HS256 at+jwt token with the claims a Laravel-shaped issuer sends, overridable.
const at = accessToken;
const grant = grantExact;

// The challenges' resource_metadata parameter (resource_metadata08.test.mjs covers it).
const METADATA = 'resource_metadata="https://hub.example/.well-known/oauth-protected-resource/.well-known/mercure"';
const ARGS = ['--resource-identifier', RESOURCE, '--jwt-issuer', `https://other.example,${ISSUER}`];
let broker;
before(async () => { broker = await new Broker(ARGS).start(); });
after(async () => { await broker.stop(); });

test('a 1.0 publisher needs a publish grant on every topic of the update', async () => {
  const token = at([grant(['publish'], `${T}orders`, `${T}orders/alt`), grant(['subscribe'], `${T}other`)]);
  const ok = await broker.publish({ topic: `${T}orders`, data: 'x', id: 'p08-1' }, { token });
  assert.equal(ok.status, 200);
  assert.equal(ok.body, 'p08-1');
  assert.equal((await broker.publish({ topic: [`${T}orders`, `${T}orders/alt`], data: 'x' }, { token })).status, 200);
  for (const topic of [`${T}other`, [`${T}orders`, `${T}other`], `${T}orders/`]) {
    const r = await broker.publish({ topic, data: 'x' }, { token });
    assert.equal(r.status, 403, `topic ${topic}`);
  }
  // The draft-07 token of the same hub still publishes (both dialects are on by default).
  assert.equal((await broker.publish({ topic: `${T}orders`, data: 'x' }, { token: PUBLISH_ALL })).status, 200);
});

test('a 1.0 token must be trusted, for this hub, unexpired and well-formed, or it is invalid_token', async () => {
  const all = [grant(['publish'], '*')];
  const now = Math.floor(Date.now() / 1000);
  const bad = {
    'untrusted issuer': at(all, { iss: 'https://evil.example' }),
    'no iss': at(all, { iss: undefined }),
    'signed with another key': at(all, {}, { key: 'not the hub key, but long enough!!' }),
    'another audience': at(all, { aud: 'https://other-hub.example/.well-known/mercure' }),
    'no aud': at(all, { aud: undefined }),
    'no exp': at(all, { exp: undefined }),
    expired: at(all, { exp: now - 1 }),
    'not yet valid': at(all, { nbf: now + 600 }),
    'a bare-string topic': at([{ type: DETAIL, actions: ['publish'], topics: ['*'] }]),
    'an unknown match_type': at([grant(['publish'], '*'), { type: DETAIL, actions: ['publish'], topics: [{ match: 'a', match_type: 'regexp' }] }]),
    'only a draft-07 claim': at(undefined, { mercure: { publish: ['*'] } }),
  };
  for (const [why, token] of Object.entries(bad)) {
    const r = await broker.publish({ topic: 'x', data: 'x' }, { token });
    const expected = why === 'only a draft-07 claim' ? 403 : 401; // valid token, no grant
    assert.equal(r.status, expected, why);
    if (expected === 401) assert.match(r.headers.get('www-authenticate'), /error="invalid_token"/, why);
  }
  // aud as an array and application/at+jwt are fine; sub, client_id, iat and jti are optional.
  const fine = [
    at(all, { aud: ['https://other-hub.example', RESOURCE] }),
    at(all, {}, { typ: 'application/at+jwt' }),
    at(all, { sub: undefined, client_id: undefined, iat: undefined, jti: undefined }),
    at(all, { iss: 'https://other.example' }),
  ];
  for (const token of fine) assert.equal((await broker.publish({ topic: 'x', data: 'x' }, { token })).status, 200);
});

test('private updates reach a 1.0 cookie holder only on the topics it may subscribe to', async () => {
  const token = at([grant(['subscribe'], `${T}private-a`)]);
  const cookie = new RawSubscriber(broker.port, `?topic=${encodeURIComponent(`${T}{x}`)}`, { Cookie: `theme=dark; __Secure-mercure_access_token=${token}` });
  const anon = new RawSubscriber(broker.port, `?topic=${encodeURIComponent(`${T}{x}`)}`);
  await Promise.all([cookie.ready(), anon.ready()]);
  await broker.publish({ topic: `${T}private-b`, data: 'b', private: 'on', id: 'c08-1' });
  await broker.publish({ topic: `${T}private-a`, data: 'a', private: 'on', id: 'c08-2' });
  await broker.publish({ topic: [`${T}public`, `${T}private-a`], data: 'alt', private: 'on', id: 'c08-3' });
  await broker.publish({ topic: `${T}public`, data: 'p', id: 'c08-4' });
  await cookie.waitFor((s) => s.events.some((e) => e.id === 'c08-4'));
  await anon.waitFor((s) => s.events.some((e) => e.id === 'c08-4'));
  assert.deepEqual(cookie.events.map((e) => e.id), ['c08-2', 'c08-3', 'c08-4']);
  assert.deepEqual(anon.events.map((e) => e.id), ['c08-4']);
  cookie.close();
  anon.close();

  // The same rule on replay.
  const replay = new RawSubscriber(broker.port, `?topic=${encodeURIComponent(`${T}{x}`)}`, { Cookie: `__Secure-mercure_access_token=${token}`, 'Last-Event-ID': 'c08-1' });
  await replay.waitFor((s) => s.events.some((e) => e.id === 'c08-4'));
  assert.deepEqual(replay.events.map((e) => e.id), ['c08-2', 'c08-3', 'c08-4']);
  replay.close();
});

test('URL pattern grants: relative patterns resolve against --resource-identifier', async () => {
  const token = at([{ type: DETAIL, actions: ['subscribe'], topics: [{ match: '/rooms/:id', match_type: 'urlpattern' }] },
    { type: DETAIL, actions: ['publish'], topics: [{ match: 'https://hub.example/rooms/(\\d+)', match_type: 'urlpattern' }] }]);
  const s = new RawSubscriber(broker.port, '?topic=*', { Authorization: `Bearer ${token}` });
  await s.ready();
  await broker.publish({ topic: 'https://hub.example/rooms/7', data: 'x', private: 'on', id: 'up-1' });
  await broker.publish({ topic: 'https://other.example/rooms/7', data: 'x', private: 'on', id: 'up-2' });
  await broker.publish({ topic: '/rooms/8', data: 'x', private: 'on', id: 'up-3' });
  await broker.publish({ topic: 'https://hub.example/rooms/7/x', data: 'x', private: 'on', id: 'up-4' });
  await broker.publish({ topic: 'end', data: 'x', id: 'up-5' });
  await s.waitFor((x) => x.events.some((e) => e.id === 'up-5'));
  assert.deepEqual(s.events.map((e) => e.id), ['up-1', 'up-3', 'up-5']);
  s.close();
  assert.equal((await broker.publish({ topic: 'https://hub.example/rooms/12', data: 'x' }, { token })).status, 200);
  assert.equal((await broker.publish({ topic: 'https://hub.example/rooms/ab', data: 'x' }, { token })).status, 403);
  const bad = at([{ type: DETAIL, actions: ['publish'], topics: [{ match: '/rooms/(', match_type: 'urlpattern' }] }]);
  assert.equal((await broker.publish({ topic: 'x', data: 'x' }, { token: bad })).status, 401, 'a pattern that does not compile');
});

test('a 1.0 subscriber\'s stream closes at its token\'s exp', async () => {
  const exp = Math.floor(Date.now() / 1000) + 2;
  const s = new RawSubscriber(broker.port, '?match=expiring', { Cookie: `__Secure-mercure_access_token=${at([grant(['subscribe'], 'expiring')], { exp })}` });
  await s.ready();
  assert.match(s.headers, /^HTTP\/1.1 200/);
  await s.waitFor((x) => x.closed, 6000);
  assert.ok(Date.now() >= (exp - 1) * 1000, 'not closed before exp');
});

// One keep-alive connection, requests one at a time: resolves each answer's status and headers
// once its body (Content-Length) has arrived; `closed` tells whether the broker hung up.
function keepAliveConnection(port) {
  const sock = net.connect(port, '127.0.0.1');
  let data = Buffer.alloc(0), waiting = null;
  const conn = { closed: false };
  const answer = () => {
    const end = data.indexOf('\r\n\r\n');
    if (!waiting || end < 0) return;
    const head = data.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (data.length < end + 4 + length) return;
    const body = data.subarray(end + 4, end + 4 + length).toString();
    data = data.subarray(end + 4 + length);
    const w = waiting;
    waiting = null;
    w.resolve({ status: Number(head.split(' ')[1]), head, body });
  };
  sock.on('data', (d) => { data = Buffer.concat([data, d]); answer(); });
  sock.on('close', () => { conn.closed = true; waiting?.reject(new Error('connection closed')); });
  sock.on('error', () => {});
  const ready = new Promise((resolve) => sock.once('connect', resolve));
  conn.publish = async (token, form) => {
    await ready;
    const body = new URLSearchParams(form).toString();
    return new Promise((resolve, reject) => {
      waiting = { resolve, reject };
      sock.write(`POST ${HUB} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  };
  conn.close = () => sock.destroy();
  return conn;
}

test('a keep-alive publisher whose token expires while its connection stays open gets 401 on its next publish (both dialects)', async () => {
  // Each connection caches its verified token: the expiry must still hold on the same bytes.
  const exp = Math.floor(Date.now() / 1000) + 2;
  const tokens = {
    'draft-07': jwt({ exp, mercure: { publish: ['*'] } }),
    '1.0': at([grant(['publish'], '*')], { exp }),
  };
  const conns = Object.fromEntries(Object.keys(tokens).map((d) => [d, keepAliveConnection(broker.port)]));
  try {
    for (const [d, token] of Object.entries(tokens)) {
      for (const n of [1, 2]) {
        const r = await conns[d].publish(token, { topic: 'https://expiry.example/t', data: `${d} ${n}` });
        assert.equal(r.status, 200, `${d} publish ${n} before exp`);
      }
    }
    await sleep(exp * 1000 - Date.now() + 50);
    for (const [d, token] of Object.entries(tokens)) {
      const r = await conns[d].publish(token, { topic: 'https://expiry.example/t', data: `${d} late` });
      assert.equal(r.status, 401, `${d} publish after exp`);
      assert.match(r.head, /www-authenticate: Bearer error="invalid_token"/i, d);
      assert.equal(conns[d].closed, false, `${d}: the 401 kept the connection (it is keep-alive)`);
      // A fresh token on the same connection publishes again.
      const fresh = d === '1.0' ? at([grant(['publish'], '*')]) : PUBLISH_ALL;
      assert.equal((await conns[d].publish(fresh, { topic: 'https://expiry.example/t', data: 'x' })).status, 200, d);
    }
  } finally {
    for (const c of Object.values(conns)) c.close();
  }
});

test('a 1.0 token in the URL is never used; a draft-07 one still is', async () => {
  const token08 = at([grant(['subscribe'], '*')]);
  const token07 = jwt({ mercure: { subscribe: ['*'] } });
  const q08 = new RawSubscriber(broker.port, `?topic=url-tok&authorization=${token08}`);
  const q07 = new RawSubscriber(broker.port, `?topic=url-tok&authorization=${token07}`);
  const header08 = new RawSubscriber(broker.port, '?topic=url-tok', { Authorization: `Bearer ${token08}` });
  await Promise.all([q08.ready(), q07.ready(), header08.ready()]);
  await broker.publish({ topic: 'url-tok', data: 's', private: 'on', id: 'u-1' });
  await broker.publish({ topic: 'url-tok', data: 'p', id: 'u-2' });
  for (const s of [q08, q07, header08]) await s.waitFor((x) => x.events.some((e) => e.id === 'u-2'));
  assert.deepEqual(q08.events.map((e) => e.id), ['u-2'], 'treated as anonymous');
  assert.deepEqual(q07.events.map((e) => e.id), ['u-1', 'u-2']);
  assert.deepEqual(header08.events.map((e) => e.id), ['u-1', 'u-2']);
  for (const s of [q08, q07, header08]) s.close();
});

test('--dialects 08 refuses draft-07 tokens and cookies; --dialects 07 refuses 1.0 tokens', async () => {
  const only08 = await new Broker([...ARGS, '--dialects', '08', '--access-token-cookie', 'mercure_access_token']).start();
  const only07 = await new Broker([...ARGS], { SSEBROKER_DIALECTS: '07' }).start();
  try {
    const t08 = at([grant(['publish', 'subscribe'], '*')]);
    assert.equal((await only08.publish({ topic: 'd', data: 'x' }, { token: PUBLISH_ALL })).status, 401);
    assert.equal((await only08.publish({ topic: 'd', data: 'x' }, { token: t08 })).status, 200);
    assert.equal((await only07.publish({ topic: 'd', data: 'x' }, { token: t08 })).status, 401);
    assert.equal((await only07.publish({ topic: 'd', data: 'x' }, { token: PUBLISH_ALL })).status, 200);

    // Under 08 only, the configured 1.0 cookie counts and the draft-07 cookie does not.
    const sub07 = jwt({ mercure: { subscribe: ['*'] } });
    const c08 = new RawSubscriber(only08.port, '?match=d', { Cookie: `mercure_access_token=${t08}` });
    const c07 = new RawSubscriber(only08.port, '?match=d', { Cookie: `mercureAuthorization=${sub07}` });
    const old08 = new RawSubscriber(only08.port, '?match=d', { Cookie: `__Secure-mercure_access_token=${t08}` });
    await Promise.all([c08.ready(), c07.ready(), old08.ready()]);
    await only08.publish({ topic: 'd', data: 's', private: 'on', id: 'd-1' }, { token: t08 });
    await only08.publish({ topic: 'd', data: 'p', id: 'd-2' }, { token: t08 });
    for (const s of [c08, c07, old08]) await s.waitFor((x) => x.events.some((e) => e.id === 'd-2'));
    assert.deepEqual(c08.events.map((e) => e.id), ['d-1', 'd-2']);
    assert.deepEqual(c07.events.map((e) => e.id), ['d-2']);
    assert.deepEqual(old08.events.map((e) => e.id), ['d-2'], 'another cookie name is not read');
    for (const s of [c08, c07, old08]) s.close();
  } finally {
    await only08.stop();
    await only07.stop();
  }
});

test('bad 1.0 flags stop the start with a message naming the flag', () => {
  for (const [flag, value] of [['--resource-identifier', '/.well-known/mercure'], ['--jwt-issuer', 'a,,b'], ['--dialects', '09'], ['--access-token-cookie', 'a;b']]) {
    const r = spawnSync(BIN, ['--listen', '127.0.0.1:0', flag, value], { encoding: 'utf8', timeout: 10000 });
    assert.notEqual(r.status, 0, `${flag} ${value}`);
    assert.match(r.stderr, new RegExp(flag), `${flag} ${value}: ${r.stderr}`);
  }
});

test('a malformed Authorization header is a 400 invalid_request, not a 401 (publish, subscribe, subscriptions API)', async () => {
  for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer    ', 'token-without-scheme']) {
    const pub = await fetch(broker.url(), {
      method: 'POST',
      headers: { Authorization: header, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'topic=t&data=x',
    });
    assert.equal(pub.status, 400, header);
    assert.equal(pub.headers.get('www-authenticate'), `Bearer error="invalid_request", ${METADATA}`);
    assert.match(await pub.text(), /must be "Bearer" followed by a token/);
    const sub = await fetch(broker.url('?match=t'), { headers: { Authorization: header } });
    assert.equal(sub.status, 400, header);
    assert.equal(sub.headers.get('www-authenticate'), `Bearer error="invalid_request", ${METADATA}`);
    await sub.body?.cancel();
  }
  // A well-formed header with a bad token stays a 401 invalid_token.
  const bad = await fetch(broker.url(), {
    method: 'POST',
    headers: { Authorization: 'Bearer not.a.token', 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'topic=t&data=x',
  });
  assert.equal(bad.status, 401);
  assert.equal(bad.headers.get('www-authenticate'), `Bearer error="invalid_token", ${METADATA}`);
});
