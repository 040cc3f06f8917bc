// Every publish/subscribe validation rule and authorization outcome, as a client sees it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, RawSubscriber, jwt, HUB, rawRequest } from './lib/broker.mjs';

let broker;
before(async () => { broker = await new Broker(['--workers', '2', '--max-body-bytes', '2000']).start(); });
after(async () => { await broker.stop(); });

const bad = [
  [{ data: 'x' }, 400, 'Missing "topic" parameter.'],
  [{ topic: 'a', id: '#frag' }, 400, /Invalid "id"/],
  [{ topic: 'a', id: 'x\ny' }, 400, /Invalid "id"/],
  [{ topic: 'a', id: 'x\ry' }, 400, /Invalid "id"/],
  [{ topic: 'a', id: 'x\0y' }, 400, /Invalid "id"/],
  [{ topic: 'a', type: 'a\nb' }, 400, /Invalid "type"/],
  [{ topic: 'a', retry: '10s' }, 400, /Invalid "retry"/],
  [{ topic: 'a', retry: '-1' }, 400, /Invalid "retry"/],
  [{ topic: 'a', retry: '99999999999999999999' }, 400, /Invalid "retry"/],
  [{ topic: 'a\u0001b' }, 400, /Invalid topic/],
  [{ topic: '/.well-known/mercure/subscriptions/x/y' }, 403, /reserved/],
  [{ topic: 'https://hub.example/.well-known/mercure' }, 403, /reserved/],
];

for (const [fields, status, reason] of bad) {
  test(`publish ${JSON.stringify(fields)} -> ${status}`, async () => {
    const r = await broker.publish(fields);
    assert.equal(r.status, status);
    if (reason instanceof RegExp) assert.match(r.body, reason);
    else assert.equal(r.body, reason);
  });
}

test('a valid update next to those is still accepted', async () => {
  const r = await broker.publish({ topic: 'https://example.com/.well-known/mercurey', data: 'x' });
  assert.equal(r.status, 200);
});

test('invalid UTF-8 in a topic and bad percent-encoding are refused', async () => {
  const send = (body) => fetch(broker.url(), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Bearer ${jwt({ mercure: { publish: ['*'] } })}` },
    body,
  });
  let r = await send('topic=%C3%28');
  assert.equal(r.status, 400);
  assert.match(await r.text(), /Invalid topic/);
  r = await send('topic=a&data=%zz');
  assert.equal(r.status, 400);
  assert.match(await r.text(), /percent-encoding/);
});

test('too many topics, body too large', async () => {
  const big = await broker.publish({ topic: 'a', data: 'x'.repeat(3000) });
  assert.equal(big.status, 413);
  const many = await fetch(broker.url(), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Bearer ${jwt({ mercure: { publish: ['*'] } })}` },
    body: Array.from({ length: 1001 }, () => 't=').join('&').replace(/t=/g, 'topic=a'),
  });
  // 1001 topics do not fit in 2000 bytes with this broker's body limit: use a roomier one below.
  assert.ok([400, 413].includes(many.status));
});

test('subscribe validation: missing topic, too many topics', async () => {
  let r = await fetch(broker.url());
  assert.equal(r.status, 400);
  assert.equal(await r.text(), 'Missing "topic" parameter.');
  const q = Array.from({ length: 1001 }, (_, i) => `topic=t${i}`).join('&');
  r = await fetch(broker.url(`?${q}`));
  assert.equal(r.status, 400);
  assert.equal(await r.text(), 'Too many "topic" parameters.');
});

test('publisher authorization (RFC 6750)', async () => {
  let r = await broker.publish({ topic: 'a' }, { token: null });
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer');

  r = await broker.publish({ topic: 'a' }, { token: 'not.a.jwt' });
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer error="invalid_token"');

  r = await broker.publish({ topic: 'a' }, { token: jwt({ mercure: { publish: ['*'] } }, { key: 'wrong' }) });
  assert.equal(r.status, 401);

  r = await broker.publish({ topic: 'a' }, { token: jwt({ mercure: { publish: ['*'] } }, { alg: 'none' }) });
  assert.equal(r.status, 401, 'alg=none is never accepted');

  r = await broker.publish({ topic: 'a' }, { token: jwt({ mercure: { publish: ['*'] } }, { alg: 'HS512' }) });
  assert.equal(r.status, 401, 'algorithm outside the allowlist');

  r = await broker.publish({ topic: 'a' }, { token: jwt({ exp: Math.floor(Date.now() / 1000) - 10, mercure: { publish: ['*'] } }) });
  assert.equal(r.status, 401, 'expired');

  r = await broker.publish({ topic: 'a' }, { token: jwt({ nbf: Math.floor(Date.now() / 1000) + 3600, mercure: { publish: ['*'] } }) });
  assert.equal(r.status, 401, 'not valid yet');

  r = await broker.publish({ topic: 'a' }, { token: jwt({ mercure: { publish: 'a' } }) });
  assert.equal(r.status, 401, 'a malformed claim rejects the token');

  r = await broker.publish({ topic: 'a' }, { token: jwt({ foo: 1 }) });
  assert.equal(r.status, 403, 'no mercure.publish claim');
  assert.equal(r.headers.get('www-authenticate'), 'Bearer error="insufficient_scope"');

  const books = jwt({ mercure: { publish: ['https://example.com/books/{id}'] } });
  r = await broker.publish({ topic: 'https://example.com/books/1' }, { token: books });
  assert.equal(r.status, 200);
  r = await broker.publish({ topic: ['https://example.com/books/1', 'https://example.com/users/1'] }, { token: books });
  assert.equal(r.status, 403, 'every topic must be allowed');
});

test('wrong content type is refused', async () => {
  const r = await fetch(broker.url(), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${jwt({ mercure: { publish: ['*'] } })}` },
    body: '{"topic":"a"}',
  });
  assert.equal(r.status, 400);
});

test('unknown method on the hub is 405', async () => {
  const out = await rawRequest(broker.port, `DELETE ${HUB} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
  assert.match(out, /^HTTP\/1\.1 405 /);
  assert.match(out, /\r\nAllow: GET, HEAD, POST, OPTIONS\r\n/);
});

test('private updates never reach anonymous subscribers, and reach authorized ones', async () => {
  const anon = new RawSubscriber(broker.port, '?topic=*');
  const allowed = new RawSubscriber(broker.port, '?topic=*', {
    Authorization: `Bearer ${jwt({ mercure: { subscribe: ['https://example.com/secret/{id}'] } })}`,
  });
  const other = new RawSubscriber(broker.port, '?topic=*', {
    Authorization: `Bearer ${jwt({ mercure: { subscribe: ['https://example.com/public'] } })}`,
  });
  await Promise.all([anon.ready(), allowed.ready(), other.ready()]);
  await broker.publish({ topic: 'https://example.com/secret/1', data: 'hidden', private: 'on', id: 'p1' });
  await broker.publish({ topic: 'https://example.com/public', data: 'open', id: 'p2' });
  await anon.waitFor((s) => s.events.some((e) => e.id === 'p2'));
  await allowed.waitFor((s) => s.events.some((e) => e.id === 'p2'));
  await other.waitFor((s) => s.events.some((e) => e.id === 'p2'));
  assert.ok(!anon.events.some((e) => e.id === 'p1'));
  assert.ok(!other.events.some((e) => e.id === 'p1'));
  assert.deepEqual(allowed.events.filter((e) => e.id.startsWith('p')).map((e) => e.id), ['p1', 'p2']);
  for (const s of [anon, allowed, other]) s.close();
});

test('a subscriber with an invalid token is refused', async () => {
  const r = await fetch(broker.url('?topic=a'), { headers: { Authorization: 'Bearer bad.token.here' } });
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate'), /invalid_token/);
});

test('a keep-alive publisher is re-checked: an expired or different token is refused', async () => {
  const exp = Math.floor(Date.now() / 1000) + 2;
  const shortLived = jwt({ exp, mercure: { publish: ['*'] } });
  // fetch keeps the connection alive between these requests.
  assert.equal((await broker.publish({ topic: 'ka-auth' }, { token: shortLived })).status, 200);
  assert.equal((await broker.publish({ topic: 'ka-auth' }, { token: jwt({ mercure: { publish: ['other'] } }) })).status, 403);
  assert.equal((await broker.publish({ topic: 'ka-auth' }, { token: shortLived })).status, 200);
  while (Date.now() / 1000 < exp + 0.2) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await broker.publish({ topic: 'ka-auth' }, { token: shortLived })).status, 401);
});

// A setting the code cannot honour is refused at start with a message naming it; nothing starts.
const refused = [
  [['--max-topics', '70000'], /--max-topics must be between 1 and 65535/],
  [['--max-topics', '0'], /--max-topics must be between 1 and 65535/],
  [['--max-queued-bytes', '20000000000G'], /invalid value for --max-queued-bytes/],
  [['--max-queued-bytes', '18446744073709551615'], /--max-queued-bytes must be between/],
  [['--history-size', '0'], /--history-size must be between 1 and/],
  [['--history-size', '4294967296'], /invalid value for --history-size/],
  [['--bus-size', '1000'], /--bus-size must be a power of two/],
  [['--bus-size', '8'], /--bus-size must be between 16 and/],
  [['--workers', '1000'], /--workers must be between 0 and 256/],
  [['--max-body-bytes', '1G'], /--max-body-bytes must be between 0 and/],
  [['--header-timeout', 'nan'], /invalid value for --header-timeout/],
  [['--heartbeat', '1e300'], /invalid value for --heartbeat/],
];
for (const [args, message] of refused) {
  test(`refused at start: ${args.join(' ')}`, async () => {
    const { BIN } = await import('./lib/broker.mjs');
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(BIN, ['--listen', '127.0.0.1:0', ...args], { encoding: 'utf8', timeout: 10000 });
    assert.notEqual(r.status, 0, `started with ${args.join(' ')}`);
    assert.equal(r.signal, null);
    assert.match(r.stderr, message);
  });
}

test('the environment twin of a flag is checked the same way', async () => {
  const { BIN } = await import('./lib/broker.mjs');
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(BIN, ['--listen', '127.0.0.1:0'], { encoding: 'utf8', timeout: 10000, env: { ...process.env, SSEBROKER_MAX_TOPICS: '70000' } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--max-topics must be between 1 and 65535/);
});

test('--max-topics at its limit (65535): an update with that many topics reaches each of them', async () => {
  const b = await new Broker(['--workers', '1', '--max-topics', '65535', '--max-body-bytes', '2MiB']).start();
  try {
    const first = new RawSubscriber(b.port, '?topic=t0');
    const last = new RawSubscriber(b.port, '?topic=t65534');
    await Promise.all([first.ready(), last.ready()]);
    const topics = Array.from({ length: 65535 }, (_, i) => `t${i}`);
    const ok = await b.publish({ topic: topics, data: 'wide' });
    assert.equal(ok.status, 200);
    await Promise.all([first, last].map((s) => s.waitFor((x) => x.events.length === 1)));
    assert.equal(last.events[0].data, 'wide');
    const over = await b.publish({ topic: [...topics, 't65535'], data: 'too wide' });
    assert.equal(over.status, 400);
    assert.equal(over.body, 'Too many "topic" parameters.');
    first.close();
    last.close();
  } finally {
    await b.stop();
  }
});
