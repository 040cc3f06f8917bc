// Safe at the edges: what one client can cost the broker. Pipelined requests whose answers are
// never read, output that stops making progress (also on connections already closing), bytes a
// subscriber writes into its stream, and waits of different kinds that must not queue behind
// each other. Each case asserts what an operator would see: memory, gauges, counters, closes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, RawSubscriber, PUBLISH_ALL, HUB, sleep, keepAlivePublisher } from './lib/broker.mjs';
import { Conn, healthy, publishBytes } from './lib/http.mjs';
import { RedisServer } from './lib/redis.mjs';

const METRICS_REQUEST = 'GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n';

async function until(pred, what, timeout = 20000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await sleep(50);
  }
}

describe('output budgets', { timeout: 120000 }, () => {
  let b;
  before(async () => { b = await new Broker(['--workers', '1', '--send-timeout', '3s']).start(); });
  after(async () => { await b.stop(); });

  test('a client pipelining 5,000 requests it never reads costs a bounded amount, and gets every answer once it reads', async (t) => {
    const heapBefore = await b.metric('ssebroker_heap_allocated_bytes');
    const heldBefore = await b.metric('ssebroker_input_held_total');
    const c = await Conn.open(b.port);
    t.after(() => c.destroy());
    c.sock.pause(); // reads nothing: the kernel's buffers fill, then the broker's would
    const n = 5000;
    c.write(METRICS_REQUEST.repeat(n)); // ~175 KiB of requests, ~27 MB of answers
    await until(async () => (await b.metric('ssebroker_input_held_total')) > heldBefore,
      'the connection to be held');
    await sleep(300);
    const heapHeld = await b.metric('ssebroker_heap_allocated_bytes');
    // Before budgets this was +26 MiB for as long as the client liked (REVIEW D2).
    if (heapBefore > 0) {
      assert.ok(heapHeld - heapBefore < 4 * 1024 * 1024,
        `heap grew by ${heapHeld - heapBefore} B for one client that does not read`);
    }
    // The client reads again: every answer arrives, in order, and the connection stays usable.
    const status = 'HTTP/1.1 200 OK';
    let answers = 0;
    let tail = '';
    c.sock.on('data', (d) => {
      const s = tail + d.toString('latin1');
      let at = 0;
      for (let i = s.indexOf(status); i >= 0; i = s.indexOf(status, at)) {
        answers++;
        at = i + status.length;
      }
      tail = s.slice(Math.max(at, s.length - status.length + 1)); // a status cut by the chunk
    });
    c.sock.resume();
    await until(() => answers >= n, `${n} answers (got ${answers})`, 60000);
    assert.equal(answers, n);
    c.destroy();
    await healthy(b.port);
  });

  test('--send-timeout closes a connection whose answers make no progress, and counts it', async (t) => {
    const before = await b.metric('ssebroker_send_timeouts_total');
    const c = await Conn.open(b.port);
    t.after(() => c.destroy());
    c.sock.pause();
    c.write(METRICS_REQUEST.repeat(5000));
    const started = Date.now();
    await until(async () => (await b.metric('ssebroker_send_timeouts_total')) > before,
      'the send timeout', 30000);
    const took = Date.now() - started;
    assert.ok(took >= 2500, `closed after ${took} ms, before --send-timeout 3s`);
    await until(async () => (await b.metric('ssebroker_connections')) <= 1, 'the connection to close');
    c.destroy();
    await healthy(b.port);
  });
});

describe('streams that stop reading or talk back', { timeout: 120000 }, () => {
  let b;
  before(async () => {
    b = await new Broker(['--workers', '1', '--stream-lifetime', '2s', '--send-timeout', '2s',
      '--max-queued-bytes', '64MiB', '--heartbeat', '0', '--history-size', '10']).start();
  });
  after(async () => { await b.stop(); });

  test('a stream past --stream-lifetime whose client stopped reading is closed by --send-timeout, its memory freed', async () => {
    const heapBefore = await b.metric('ssebroker_heap_allocated_bytes');
    const timeoutsBefore = await b.metric('ssebroker_send_timeouts_total');
    const sub = new RawSubscriber(b.port, '?topic=big');
    await sub.ready();
    sub.sock.pause();
    const pub = keepAlivePublisher(b.port, 4);
    const data = 'x'.repeat(4000);
    const sends = [];
    for (let i = 0; i < 4000; i++) sends.push(pub.send(`topic=big&data=${data}`));
    await Promise.all(sends);
    pub.close();
    // Lifetime ends at 2 s (the stream is then closing after its output), the output stalls:
    // the send timeout must end it. Before, it was held with its queue for as long as the client
    // stayed connected (REVIEW D3).
    await until(async () => (await b.metric('ssebroker_send_timeouts_total')) > timeoutsBefore,
      'the stalled stream to be closed', 30000);
    await until(async () => (await b.metric('ssebroker_streams')) === 0, 'the stream gauge to drop');
    const heapAfter = await b.metric('ssebroker_heap_allocated_bytes');
    if (heapBefore > 0) {
      assert.ok(heapAfter - heapBefore < 4 * 1024 * 1024,
        `heap still ${heapAfter - heapBefore} B above its baseline`);
    }
    sub.close();
  });

  test('a subscriber writing into its stream is closed with a reason; the others keep their events', async () => {
    const before = await b.metric('ssebroker_stream_input_closes_total');
    const talker = new RawSubscriber(b.port, '?topic=t');
    const quiet = new RawSubscriber(b.port, '?topic=t');
    await talker.ready();
    await quiet.ready();
    const junk = Buffer.alloc(64 * 1024, 'z');
    for (let i = 0; i < 8; i++) talker.sock.write(junk);
    await talker.waitFor((s) => s.closed, 10000);
    assert.equal(await b.metric('ssebroker_stream_input_closes_total'), before + 1);
    assert.match(b.stderr, /stream closed: the client kept sending data into it/);
    const r = await b.publish({ topic: 't', id: 'after-talker', data: 'x' });
    assert.equal(r.status, 200);
    await quiet.waitFor((s) => s.events.some((e) => e.id === 'after-talker'));
    quiet.close();
  });
});

describe('waits of different kinds', { timeout: 120000 }, () => {
  let redis;
  let b;
  before(async () => {
    redis = await new RedisServer({ aof: false }).start();
    b = await new Broker(['--workers', '1', '--redis', redis.url, '--redis-timeout', '3s']).start();
  });
  after(async () => {
    await b?.stop();
    await redis?.stop();
  });

  test('publishes are answered while a resume waits for the bridge on an unknown id', async () => {
    // Each resume names an id this node has never seen: it waits (up to --redis-timeout, 3 s)
    // for the bridge to catch up. Publishes sent meanwhile must not wait behind it (before,
    // they did: a 2.5 ms median became 293 ms, REVIEW D5).
    const median = (xs) => xs.sort((x, y) => x - y)[xs.length >> 1];
    const timed = async (i) => {
      const t0 = process.hrtime.bigint();
      const r = await b.publish({ topic: 'c', data: String(i) });
      assert.equal(r.status, 200);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const alone = [];
    for (let i = 0; i < 10; i++) alone.push(await timed(i));
    const waits = [];
    const behind = [];
    for (let i = 0; i < 10; i++) {
      const sub = new RawSubscriber(b.port, '?topic=c', { 'Last-Event-ID': `unknown-${i}` });
      waits.push(sub);
      await sleep(10);
      behind.push(await timed(i));
    }
    const m0 = median(alone);
    const m1 = median(behind);
    assert.ok(m1 < m0 + 50, `acknowledgement median ${m1.toFixed(1)} ms with parked resumes, ${m0.toFixed(1)} ms without`);
    for (const s of waits) {
      await s.ready();
      assert.match(s.headers, /^HTTP\/1\.1 200/);
      s.close();
    }
    assert.ok(await b.metric('ssebroker_resume_waits_total') >= 10);
  });
});
