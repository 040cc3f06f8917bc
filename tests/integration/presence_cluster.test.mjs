// Presence across a cluster (issue 19, Laravel presence channels behind a load balancer): the
// subscriptions API of every node lists the subscriptions held by every node, a node that
// starts later lists those made before it started, a node that dies (kill -9) has its members
// leave (one "inactive" event each, from exactly one surviving node), a node taken for dead
// that comes back announces its members again, and joins and leaves that a Redis outage dropped
// are put right once it is back.
// Real brokers, a real redis-server on loopback, raw sockets and fetch.
import { test, before, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Broker, RawSubscriber, jwt, sleep } from './lib/broker.mjs';
import { RESOURCE, ISSUER, SUBS, enc, accessToken, presenceGrant } from './lib/mercure08.mjs';
import { RedisServer } from './lib/redis.mjs';

const at = (details, claims = {}) => accessToken(details, { exp: Math.floor(Date.now() / 1000) + 600, ...claims });

let redis;
const started = [];
// Each test has a Stream (and presence keys) of its own: nothing of one test's nodes, alive or
// dead, reaches another's.
let stream;
const node = async () => {
  const b = await new Broker(['--redis', redis.url, '--redis-stream', stream, '--workers', '2', '--subscriptions',
    '--resource-identifier', RESOURCE, '--jwt-issuer', ISSUER]).start();
  started.push(b);
  return b;
};
before(async () => { redis = await new RedisServer({ aof: false }).start(); });
beforeEach(() => { stream = `presence-${crypto.randomUUID()}`; });
after(async () => {
  for (const b of started) if (b.proc && b.proc.exitCode === null && b.proc.signalCode === null) { b.proc.kill('SIGCONT'); await b.stop(); }
  await redis.stop();
});

async function until(pred, what, timeout = 10000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// The presence snapshot Echo reads: GET /subscriptions/exact/<room>, authorized by the path.
async function members(b, room, token) {
  const res = await fetch(`${b.base}${SUBS}/exact/${enc(room)}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  const doc = await res.json();
  return doc.subscriptions.map((s) => s.payload?.name).sort();
}

const mercureEvents = (s) => s.events.filter((e) => e.event === 'mercure').map((e) => JSON.parse(e.data));
const join = (b, room, name) => new RawSubscriber(b.port, `?match=${enc(room)}`,
  { Cookie: `__Secure-mercure_access_token=${at([presenceGrant(room, { name })])}` });

test('every node lists every node\'s members; a node started later lists those already there', async () => {
  const room = 'https://laravel.alt/echo/channel/presence-lobby';
  const reader = at([presenceGrant(room, { name: 'reader' })]);
  const [a, b] = [await node(), await node()];
  const alice = join(a, room, 'alice');
  const bob = join(b, room, 'bob');
  await Promise.all([alice.ready(), bob.ready()]);
  for (const n of [a, b]) await until(async () => (await members(n, room, reader)).join() === 'alice,bob', `both members on :${n.port}`);

  // Started after both joined: it reads the registry of the others from Redis.
  const c = await node();
  await until(async () => (await members(c, room, reader)).join() === 'alice,bob', 'members on the late node');
  const carol = join(c, room, 'carol');
  await carol.ready();
  for (const n of [a, b, c]) await until(async () => (await members(n, room, reader)).join() === 'alice,bob,carol', `three members on :${n.port}`);

  // Leaving is seen everywhere, whichever node held the stream.
  alice.close();
  for (const n of [a, b, c]) await until(async () => (await members(n, room, reader)).join() === 'bob,carol', `alice gone on :${n.port}`);
  // The draft-07 collection lists other nodes' subscriptions too.
  const d07 = jwt({ mercure: { subscribe: ['*'] } });
  const all = await (await fetch(`${c.base}${SUBS}`, { headers: { Authorization: `Bearer ${d07}`, Accept: 'application/ld+json' } })).json();
  assert.ok(all.subscriptions.some((s) => s.match === room && s.payload?.name === 'bob'), JSON.stringify(all));
  bob.close();
  carol.close();
  for (const n of [a, b, c]) await until(async () => (await members(n, room, reader)).length === 0, `room empty on :${n.port}`);
  await Promise.all([a, b, c].map((n) => n.stop()));
});

test('a node killed with members connected: each member leaves once, announced by one survivor', async (t) => {
  const room = 'https://laravel.alt/echo/channel/presence-crash';
  const reader = at([presenceGrant(room, { name: 'reader' })]);
  const [a, b, c] = [await node(), await node(), await node()];
  // Watchers on both survivors: one inactive event per member in the shared order, not one per
  // surviving node.
  const pattern = `${SUBS}/:match_type/${enc(room)}{/:subscriber}?`;
  const watchers = [b, c].map((n) => new RawSubscriber(n.port, `?match_urlpattern=${enc(pattern)}`,
    { Authorization: `Bearer ${reader}` }));
  await Promise.all(watchers.map((w) => w.ready()));
  const doomed = [join(a, room, 'dora'), join(a, room, 'dan')];
  const survivor = join(b, room, 'sam');
  await Promise.all([...doomed, survivor].map((s) => s.ready()));
  await until(async () => (await members(c, room, reader)).join() === 'dan,dora,sam', 'three members');

  const killedAt = Date.now();
  a.proc.kill('SIGKILL');
  await a.exited;
  for (const n of [b, c]) await until(async () => (await members(n, room, reader)).join() === 'sam', `the dead node's members gone on :${n.port}`, 30000);
  const took = Date.now() - killedAt;
  for (const w of watchers) {
    await w.waitFor((x) => mercureEvents(x).filter((e) => !e.active).length >= 2, 15000);
    await sleep(500);
    const left = mercureEvents(w).filter((e) => !e.active).map((e) => e.payload.name).sort();
    assert.deepEqual(left, ['dan', 'dora'], 'one inactive event per member of the dead node, from one survivor');
  }
  // Exactly one survivor ended them, and says so; each lists the other's subscriptions only (b:
  // c's watcher; c: sam and b's watcher).
  const ended = await Promise.all([b, c].map((n) => n.metric('ssebroker_presence_orphans_ended_total')));
  const logs = [b, c].map((n) => n.stderr.split('\n').filter((l) => /presence|redis/.test(l)).join('\n')).join('\n---\n');
  assert.deepEqual(ended.sort(), [0, 2], `orphans ended per survivor: ${ended}\n${logs}`);
  assert.equal(await b.metric('ssebroker_subscriptions_listed{node="others"}'), 1);
  assert.equal(await c.metric('ssebroker_subscriptions_listed{node="others"}'), 2);
  assert.equal(await b.metric('ssebroker_subscriptions_listed{node="this"}'), 2);
  // The heartbeat lives 10 s and survivors look every 2 s: about 12 s, not minutes (the wait
  // above allows 30 s for sanitizer builds on a loaded machine).
  t.diagnostic(`members left ${took} ms after the kill`);
  survivor.close();
  watchers.forEach((w) => w.close());
  doomed.forEach((s) => s.close());
  await Promise.all([b, c].map((n) => n.stop()));
});

test('a node taken for dead (stopped past its heartbeat) comes back and announces its members again', async () => {
  const room = 'https://laravel.alt/echo/channel/presence-pause';
  const reader = at([presenceGrant(room, { name: 'reader' })]);
  const [a, b] = [await node(), await node()];
  const paula = join(a, room, 'paula');
  await paula.ready();
  await until(async () => (await members(b, room, reader)).join() === 'paula', 'paula listed on b');
  a.proc.kill('SIGSTOP');
  try {
    await until(async () => (await members(b, room, reader)).length === 0, 'paula taken for gone', 30000);
  } finally {
    a.proc.kill('SIGCONT');
  }
  // Her stream never ended: once running again, her node finds its heartbeat gone and says so.
  await until(async () => (await members(b, room, reader)).join() === 'paula', 'paula announced again', 15000);
  assert.equal(await a.metric('ssebroker_presence_reconciled_total'), 1);
  assert.deepEqual(await members(a, room, reader), ['paula']);
  paula.close();
  await until(async () => (await members(b, room, reader)).length === 0, 'paula left');
  await Promise.all([a, b].map((n) => n.stop()));
});

test('Redis killed and restarted (AOF): who joined and who left during the outage is put right', async () => {
  const room = 'https://laravel.alt/echo/channel/presence-outage';
  const reader = at([presenceGrant(room, { name: 'reader' })]);
  const own = await new RedisServer().start();
  const on = (r) => new Broker(['--redis', r.url, '--redis-stream', stream, '--workers', '2',
    '--subscriptions', '--resource-identifier', RESOURCE, '--jwt-issuer', ISSUER]).start();
  const [a, b] = [await on(own), await on(own)];
  try {
    const alice = join(a, room, 'alice');
    await alice.ready();
    await until(async () => (await members(b, room, reader)).join() === 'alice', 'alice listed');
    await own.kill();
    await until(async () => (await fetch(`${a.base}/readyz`)).status === 503, 'a knows Redis is gone');
    // Their subscription events cannot be appended now (refused at once, or failed in the writer).
    const bob = join(a, room, 'bob');
    await bob.ready();
    assert.match(bob.headers, /^HTTP\/1.1 200/, 'streams are served while Redis is down');
    alice.close();
    await until(async () => (await a.metric('ssebroker_redis_append_errors_total')) >= 2, 'both events refused');
    await own.start();
    await until(async () => (await members(b, room, reader)).join() === 'bob', 'bob listed and alice gone on the other node', 20000);
    assert.deepEqual(await members(a, room, reader), ['bob']);
    assert.ok(await a.metric('ssebroker_presence_reconciled_total') >= 2);
    bob.close();
    await until(async () => (await members(b, room, reader)).length === 0, 'bob left');
  } finally {
    await a.stop();
    await b.stop();
    await own.stop();
  }
});
