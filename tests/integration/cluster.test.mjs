// Cluster mode (--redis): several real broker processes sharing one real redis-server on
// loopback. What every subscriber on every node receives is compared with what the publishers
// were told was accepted: the same updates, once each, in one order everywhere; and each fault
// (Redis killed, stopped, restarted, reset, rewound, trimmed past a node) is answered the way
// DESIGN.md section 2.1 says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { Broker, BIN, PUBLISH_ALL, HUB, RawSubscriber, freePort, sleep } from './lib/broker.mjs';
import { RedisServer, fakeRedis } from './lib/redis.mjs';

const node = (redis, extra = []) => new Broker(['--redis', redis.url, '--workers', '2', ...extra]);

async function readyz(b) {
  try {
    const res = await fetch(`${b.base}/readyz`);
    return { status: res.status, body: await res.text() };
  } catch {
    return { status: 0, body: '' };
  }
}

async function until(pred, what, timeout = 10000) {
  const deadline = Date.now() + timeout;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const ids = (sub) => sub.events.map((e) => e.id);

// Publishes n updates one after the other on one keep-alive connection; returns the ids
// acknowledged (200 with the id as body) and the statuses of the others.
async function publishSeries(b, n, prefix, topic = 'c') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const acked = [], failed = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`;
    const body = `topic=${topic}&id=${id}&data=${prefix}+${i}`;
    const res = await new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: b.port, path: HUB, method: 'POST', agent, headers: {
        'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': body.length, Authorization: `Bearer ${PUBLISH_ALL}`,
      } }, (r) => { let t = ''; r.on('data', (d) => { t += d; }); r.on('end', () => resolve({ status: r.statusCode, body: t })); });
      req.on('error', () => resolve({ status: 0, body: '' }));
      req.end(body);
    });
    if (res.status === 200 && res.body === id) acked.push(id);
    else failed.push(res.status);
  }
  agent.destroy();
  return { acked, failed };
}

function assertOncePerPublisherOrder(got, acked) {
  assert.equal(new Set(got).size, got.length, 'no update delivered twice');
  const pos = new Map(got.map((id, i) => [id, i]));
  for (const series of acked) {
    for (const id of series) assert.ok(pos.has(id), `acknowledged ${id} delivered`);
    for (let i = 1; i < series.length; i++) assert.ok(pos.get(series[i - 1]) < pos.get(series[i]), `${series[i]} after ${series[i - 1]}`);
  }
}

test('three nodes: concurrent publishers on every node, every subscriber gets every update once, in one order', async () => {
  const redis = await new RedisServer().start();
  const nodes = await Promise.all([0, 1, 2].map(() => node(redis).start()));
  try {
    for (const b of nodes) await until(async () => (await readyz(b)).status === 200, 'ready');
    const subs = [];
    for (const b of nodes) for (let k = 0; k < 2; k++) subs.push(new RawSubscriber(b.port, '?topic=c'));
    await Promise.all(subs.map((s) => s.ready()));
    await sleep(100);
    const runs = [];
    nodes.forEach((b, i) => { for (let p = 0; p < 3; p++) runs.push(publishSeries(b, 100, `n${i}p${p}`)); });
    const results = await Promise.all(runs);
    const acked = results.map((r) => r.acked);
    const total = acked.reduce((n, a) => n + a.length, 0);
    assert.equal(total, 900, `every publish acknowledged (failures: ${results.flatMap((r) => r.failed)})`);
    for (const s of subs) await s.waitFor((x) => x.events.length >= total, 15000);
    const order = ids(subs[0]);
    assertOncePerPublisherOrder(order, acked);
    for (const s of subs) assert.deepEqual(ids(s), order, 'the same order on every node');
    subs.forEach((s) => s.close());
    // A node started now loads the retained Stream and replays it at once, in the same order.
    const late = await node(redis).start();
    nodes.push(late);
    await until(async () => (await readyz(late)).status === 200, 'late node ready');
    const replay = new RawSubscriber(late.port, '?topic=c', { 'Last-Event-ID': 'earliest' });
    await replay.waitFor((x) => x.events.length >= total);
    assert.deepEqual(ids(replay), order);
    replay.close();
    // Resume on another node than the one published to: a client that published on node 0
    // and resumes on node 2 from before its update gets it.
    const before = order[order.length - 1];
    const mine = await nodes[0].publish({ topic: 'c', id: 'mine', data: 'x' });
    assert.equal(mine.status, 200);
    const resumed = new RawSubscriber(nodes[2].port, '?topic=c', { 'Last-Event-ID': before });
    await resumed.waitFor((x) => x.events.some((e) => e.id === 'mine'));
    assert.match(resumed.headers, new RegExp(`Last-Event-ID: ${before}`));
    assert.deepEqual(ids(resumed), ['mine']);
    resumed.close();
    assert.equal(await nodes[0].metric('ssebroker_redis_up'), 1);
    assert.ok(await nodes[0].metric('ssebroker_redis_append_seconds_count') >= 300);
  } finally {
    for (const b of nodes) await b.stop();
    await redis.stop();
  }
});

test('Redis killed and restarted (AOF): 503 at once meanwhile, not ready, then back with no gap and no duplicate', async () => {
  const redis = await new RedisServer().start();
  const a = await node(redis, ['--redis-timeout', '500ms']).start();
  const b = await node(redis, ['--redis-timeout', '500ms']).start();
  try {
    await until(async () => (await readyz(a)).status === 200 && (await readyz(b)).status === 200, 'ready');
    const sub = new RawSubscriber(b.port, '?topic=c');
    await sub.ready();
    const first = await publishSeries(a, 20, 'before');
    assert.equal(first.acked.length, 20);
    await redis.kill();
    const t0 = Date.now();
    const down = await a.publish({ topic: 'c', id: 'during', data: 'x' });
    assert.equal(down.status, 503, 'a publish while Redis is down is refused');
    assert.ok(down.headers.get('retry-after'), 'with Retry-After');
    assert.ok(Date.now() - t0 < 1500, 'within the timeout');
    await until(async () => (await readyz(a)).status === 503 && (await readyz(b)).status === 503, 'not ready');
    assert.match((await readyz(b)).body, /redis unreachable/);
    assert.ok(await a.metric('ssebroker_redis_append_errors_total') >= 1);
    assert.equal(sub.closed, false, 'streams stay open');
    await redis.start();
    await until(async () => (await readyz(a)).status === 200 && (await readyz(b)).status === 200, 'ready again', 15000);
    const second = await publishSeries(a, 20, 'after');
    assert.equal(second.acked.length, 20);
    await sub.waitFor((x) => x.events.length >= 40);
    await sleep(300);
    assert.deepEqual(ids(sub), [...first.acked, ...second.acked], 'no gap, no duplicate, nothing refused delivered');
    assert.equal(await a.metric('ssebroker_history_discontinuities_total'), 0);
    sub.close();
  } finally {
    await a.stop();
    await b.stop();
    await redis.stop();
  }
});

test('Redis stopped (SIGSTOP): publishes get 503 within --redis-timeout, readiness fails, and recovers on SIGCONT', async () => {
  const redis = await new RedisServer().start();
  const a = await node(redis, ['--redis-timeout', '400ms', '--redis-max-lag', '1s']).start();
  try {
    await until(async () => (await readyz(a)).status === 200, 'ready');
    const sub = new RawSubscriber(a.port, '?topic=c');
    await sub.ready();
    await redis.pause();
    const t0 = Date.now();
    const stalled = await a.publish({ topic: 'c', id: 'stalled', data: 'x' });
    const waited = Date.now() - t0;
    assert.equal(stalled.status, 503);
    assert.ok(waited >= 300 && waited < 1500, `answered after the timeout (${waited} ms)`);
    await until(async () => (await readyz(a)).status === 503, 'not ready while Redis is stopped');
    await redis.resume();
    await until(async () => (await readyz(a)).status === 200, 'ready after SIGCONT', 15000);
    const ok = await a.publish({ topic: 'c', id: 'resumed', data: 'x' });
    assert.equal(ok.status, 200);
    await sub.waitFor((x) => x.events.some((e) => e.id === 'resumed'));
    // The refused update may still have reached Redis (it was sent before the timeout): it was
    // never acknowledged. Whatever arrived, arrived once and in order.
    assert.deepEqual(ids(sub).filter((i) => i !== 'stalled'), ['resumed']);
    sub.close();
  } finally {
    await redis.resume();
    await a.stop();
    await redis.stop();
  }
});

test('a node started while Redis is down is not ready, refuses publishes, and becomes ready when Redis comes', async () => {
  const redis = new RedisServer();
  redis.port = await freePort();
  const a = await node(redis).start();
  try {
    assert.equal((await readyz(a)).status, 503);
    assert.equal((await a.publish({ topic: 'c', data: 'x' })).status, 503);
    await redis.start();
    await until(async () => (await readyz(a)).status === 200, 'ready once Redis is up', 15000);
    assert.equal((await a.publish({ topic: 'c', data: 'x' })).status, 200);
  } finally {
    await a.stop();
    await redis.stop();
  }
});

test('a Stream reset, rewound or trimmed past a node is a recorded break: streams cut with retry, old ids resume as earliest', async () => {
  const redis = await new RedisServer({ aof: false }).start();
  const a = await node(redis, ['--redis-retain', '20']).start();
  const b = await node(redis, ['--redis-retain', '20']).start();
  try {
    await until(async () => (await readyz(a)).status === 200 && (await readyz(b)).status === 200, 'ready');
    // Reset: the key deleted under running nodes.
    const sub = new RawSubscriber(b.port, '?topic=c');
    await sub.ready();
    assert.equal((await publishSeries(a, 3, 'r')).acked.length, 3);
    await sub.waitFor((x) => x.events.length === 3);
    redis.cli('DEL', 'ssebroker', 'ssebroker:ids');
    assert.equal((await a.publish({ topic: 'c', id: 'fresh', data: 'x' })).status, 200);
    await sub.waitFor((x) => x.closed);
    assert.match(sub.raw, /retry: \d+\n\n$/, 'the stream ends with a retry hint');
    await until(async () => (await b.metric('ssebroker_history_discontinuities_total')) === 1, 'break counted');
    const old = new RawSubscriber(b.port, '?topic=c', { 'Last-Event-ID': 'r-1' });
    await old.ready();
    assert.match(old.headers, /Last-Event-ID: earliest/, 'an id from before the break resumes as earliest');
    old.close();
    const after = new RawSubscriber(b.port, '?topic=c', { 'Last-Event-ID': 'fresh' });
    await after.ready();
    assert.match(after.headers, /Last-Event-ID: fresh/, 'ids after the break resume normally');
    after.close();

    // Rewound: Redis restarts from a snapshot older than what the nodes read (a failover that
    // lost the tail looks the same).
    redis.cli('SAVE');
    assert.equal((await publishSeries(a, 3, 'lost')).acked.length, 3);
    await until(async () => (await b.metric('ssebroker_history_events')) >= 4, 'read back');
    await redis.kill();
    await redis.start();
    await until(async () => (await b.metric('ssebroker_history_discontinuities_total')) === 2, 'rewind counted', 15000);
    await until(async () => (await readyz(a)).status === 200 && (await readyz(b)).status === 200, 'ready after rewind', 15000);

    // Trimmed past a node's cursor: node b is stopped while more than the retained length is
    // published through node a; when b runs again it cannot read what it missed.
    b.proc.kill('SIGSTOP');
    assert.equal((await publishSeries(a, 30, 'while-away')).acked.length, 30);
    b.proc.kill('SIGCONT');
    await until(async () => (await b.metric('ssebroker_history_discontinuities_total')) === 3, 'trim counted', 15000);
    assert.equal(await a.metric('ssebroker_history_discontinuities_total'), 2, 'node a read everything');
  } finally {
    b.proc.kill('SIGCONT');
    await a.stop();
    await b.stop();
    await redis.stop();
  }
});

test('refused at start: an evicting Redis, a Redis older than 6.2, --redis with --history-dir, a bad URL', async () => {
  const evicting = await new RedisServer({ args: ['--maxmemory-policy', 'allkeys-lru'] }).start();
  const old = await fakeRedis('# Server\r\nredis_version:6.0.16\r\n# Memory\r\nmaxmemory_policy:noeviction\r\n');
  try {
    // Asynchronous: the fake Redis answers from this process's event loop.
    const run = (args) => new Promise((resolve) => {
      const p = spawn(BIN, ['--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr.on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => p.kill('SIGKILL'), 10000);
      p.on('exit', (status) => { clearTimeout(timer); resolve({ status, stderr }); });
    });
    let r = await run(['--redis', evicting.url]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /maxmemory-policy is allkeys-lru.*noeviction/);
    r = await run(['--redis', old.url]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Redis 6\.0\.16 is too old: cluster mode needs Redis 6\.2/);
    r = await run(['--redis', evicting.url, '--history-dir', '/tmp/x']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--redis and --history-dir cannot be used together/);
    for (const bad of ['http://x', 'redis://', 'redis://h:99999', 'redis://h/db']) {
      r = await run(['--redis', bad]);
      assert.notEqual(r.status, 0, bad);
      assert.match(r.stderr, /--redis/, bad);
    }
  } finally {
    await old.close();
    await evicting.stop();
  }
});

test('resume on node B right after publishing on node A, with the new id: B waits for its bridge, never repeats it', async () => {
  const redis = await new RedisServer().start();
  const a = await node(redis).start();
  // A long --redis-timeout, so that "answered once the bridge caught up" (two reads, ~0.4 s) is
  // told from "answered at the timeout" with room for a loaded machine.
  const b = await node(redis, ['--redis-timeout', '5s']).start();
  try {
    await until(async () => (await readyz(a)).status === 200 && (await readyz(b)).status === 200, 'ready');
    for (let i = 0; i < 40; i++) {
      const id = `own-${i}`;
      assert.equal((await a.publish({ topic: 'c', id, data: 'x' })).status, 200);
      // At once on the other node, resuming after the update just acknowledged: by header, or
      // (what an EventSource's first connection can do) by query parameter, 1.0's or draft-07's.
      const sub = [
        () => new RawSubscriber(b.port, '?topic=c', { 'Last-Event-ID': id }),
        () => new RawSubscriber(b.port, `?match=c&last_event_id=${id}`),
        () => new RawSubscriber(b.port, `?topic=c&lastEventID=${id}`),
      ][i % 3]();
      await sub.ready();
      assert.match(sub.headers, new RegExp(`Last-Event-ID: ${id}\r?$`, 'm'), 'the id is known: resumed after it');
      assert.equal((await a.publish({ topic: 'c', id: `next-${i}`, data: 'y' })).status, 200);
      await sub.waitFor((x) => x.events.length >= 1);
      assert.deepEqual(ids(sub), [`next-${i}`], 'the update it had is not sent again');
      sub.close();
    }
    // An id no node knows is answered as unknown after the short wait, not after a timeout.
    const t0 = Date.now();
    const unknown = new RawSubscriber(b.port, '?topic=c', { 'Last-Event-ID': 'never-published' });
    await unknown.ready();
    assert.match(unknown.headers, /Last-Event-ID: earliest/);
    assert.ok(Date.now() - t0 < 3000, `answered once the bridge caught up, not at the 5 s timeout (${Date.now() - t0} ms)`);
    unknown.close();
    // The same wait for an id given in the query (an EventSource's first connection, Echo's
    // last_event_id): it is not answered from what this node has read so far.
    for (const query of ['?match=c&last_event_id=never-published-2', '?topic=c&lastEventID=never-published-3']) {
      const before = await b.metric('ssebroker_resume_waits_total');
      const byQuery = new RawSubscriber(b.port, query);
      await byQuery.ready();
      assert.match(byQuery.headers, /Last-Event-ID: earliest/);
      assert.equal(await b.metric('ssebroker_resume_waits_total'), before + 1, `${query} waited for the bridge`);
      byQuery.close();
    }
    console.log(`resume waits on node b: ${await b.metric('ssebroker_resume_waits_total')}`);
    assert.ok(await b.metric('ssebroker_resume_waits_total') >= 1);
  } finally {
    await a.stop();
    await b.stop();
    await redis.stop();
  }
});
