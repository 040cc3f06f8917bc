// Replay as deep as the Stream: nodes whose memory holds a hundred updates (--history-size 100)
// in front of a Stream that keeps far more (--redis-retain). A Last-Event-ID older than memory is
// replayed from Redis in pages, with no gap, on the node that published and on one started later;
// a reconnect storm of deep resumes costs bounded memory and Redis work (both printed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Broker, RawSubscriber, keepAlivePublisher, sleep } from '../integration/lib/broker.mjs';
import { RedisServer } from '../integration/lib/redis.mjs';
import { until, readyz } from './lib/ha.mjs';

const TOTAL = 5000;
// Memory for a hundred, the Stream for 100,000: said with --history-size and --redis-retain, or
// (as with --history-dir) with --history-memory under a larger --history-size.
const node = (redis, extra = []) => new Broker(['--redis', redis.url, '--workers', '2',
  '--history-size', '100', '--redis-retain', '100000', ...extra]);
const nodeByMemory = (redis) => new Broker(['--redis', redis.url, '--workers', '2',
  '--history-size', '100000', '--history-memory', '100']);

const ids = (sub) => sub.events.map((e) => e.id);
const rssKiB = (b) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${b.proc.pid}/status`, 'utf8'))[1]);
const redisCpu = (redis) => {
  const info = redis.cli('INFO', 'cpu');
  return Number(/used_cpu_user:([\d.]+)/.exec(info)[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)[1]);
};
const xrangeCalls = (redis) => Number((/cmdstat_xrange:calls=(\d+)/.exec(redis.cli('INFO', 'commandstats')) || [0, 0])[1]);

async function publishAll(b, n) {
  const pub = keepAlivePublisher(b.port, 8);
  const all = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < n; i += 200) {
    // Concurrent within a batch, batches in order: ids u-0 .. u-(n-1) in Stream order per batch.
    await Promise.all(all.slice(i, i + 200).map((k) => pub.publish(`topic=deep&id=u-${k}&data=${k}`)));
  }
  pub.close();
}

test('a Last-Event-ID older than memory but in the Stream is replayed from Redis in pages, gap-free, on the publishing node and on one started later; a storm of deep resumes stays bounded', async () => {
  const redis = await new RedisServer().start();
  const nodes = [];
  try {
    const a = await node(redis).start();
    nodes.push(a);
    await until(async () => (await readyz(a)) === 200, 'ready');
    await publishAll(a, TOTAL);
    // The Stream's order is the order every subscriber sees.
    const order = redis.streamIds();
    assert.equal(order.length, TOTAL);
    const from = order[10];
    const want = order.slice(11);
    const deep = new RawSubscriber(a.port, '?topic=deep', { 'Last-Event-ID': from });
    await deep.waitFor((s) => s.events.length >= want.length, 20000);
    assert.match(deep.headers, new RegExp(`Last-Event-ID: ${from}`), 'the id was found (not earliest)');
    assert.deepEqual(ids(deep), want, 'every update after it, in Stream order, no gap');
    deep.close();
    assert.ok(await a.metric('ssebroker_store_replay_reads_total') >= Math.floor(want.length / 256),
      'read from Redis in pages');

    // A node started later: its memory holds the newest hundred, Redis the rest.
    const late = await nodeByMemory(redis).start();
    nodes.push(late);
    await until(async () => (await readyz(late)) === 200, 'late node ready');
    const lateSub = new RawSubscriber(late.port, '?topic=deep', { 'Last-Event-ID': order[100] });
    await lateSub.waitFor((s) => s.events.length >= TOTAL - 101, 20000);
    assert.deepEqual(ids(lateSub), order.slice(101));
    assert.ok(await late.metric('ssebroker_store_replay_reads_total') > 0, 'the late node read it from Redis');
    // Live updates follow the replay with no gap and no duplicate.
    assert.equal((await a.publish({ topic: 'deep', id: 'after', data: 'x' })).status, 200);
    await lateSub.waitFor((s) => ids(s).includes('after'));
    assert.deepEqual(ids(lateSub), [...order.slice(101), 'after']);
    lateSub.close();
    const earliest = new RawSubscriber(late.port, '?topic=deep', { 'Last-Event-ID': 'earliest' });
    await earliest.waitFor((s) => s.events.length >= TOTAL + 1, 20000);
    assert.deepEqual(ids(earliest), [...order, 'after'], 'earliest: the whole retained Stream');
    earliest.close();

    // A reconnect storm: 200 deep resumes at once, each from its own point.
    const STORM = 200;
    await sleep(300);
    const rss0 = rssKiB(late);
    const calls0 = xrangeCalls(redis);
    const cpu0 = redisCpu(redis);
    const t0 = Date.now();
    let rssMax = rss0;
    const sampler = setInterval(() => { rssMax = Math.max(rssMax, rssKiB(late)); }, 20);
    const storm = Array.from({ length: STORM }, (_, k) => {
      const at = 50 + ((k * 23) % 4000);
      return { at, sub: new RawSubscriber(late.port, '?topic=deep', { 'Last-Event-ID': order[at] }) };
    });
    for (const { at, sub } of storm) await sub.waitFor((s) => s.events.length >= TOTAL - at, 60000);
    clearInterval(sampler);
    const took = Date.now() - t0;
    const calls = xrangeCalls(redis) - calls0;
    const cpu = redisCpu(redis) - cpu0;
    const events = storm.reduce((n, { at }) => n + TOTAL - at - 1, 0);
    for (const { at, sub } of storm) assert.deepEqual(ids(sub), [...order.slice(at + 1), 'after']);
    storm.forEach(({ sub }) => sub.close());
    console.log(`# storm: ${STORM} deep resumes, ${events} updates from Redis in ${took} ms; XRANGE calls ${calls} (${(events / calls).toFixed(0)} updates each), Redis CPU ${cpu.toFixed(2)} s; node RSS ${Math.round(rss0 / 1024)} -> max ${Math.round(rssMax / 1024)} MiB`);
    assert.ok(calls <= Math.ceil(events / 256) + 4 * STORM, `pages, not one call per update (${calls})`);
  } finally {
    for (const b of nodes) await b.stop();
    await redis.stop();
  }
});
