// What one client can cost the broker, for one or more builds side by side (issue "safe at the
// edges"): the heap pinned by a client that pipelines 5,000 GET /metrics (~175 KiB) and reads
// nothing, and, in cluster mode, the publish acknowledgement median alone and with a resume
// parked on an id the node has not read back (REVIEW D2 and D5).
//
//   node bench/edges.mjs [BINARY...]        (default: build/ssebroker)
//
// Each binary runs on its own broker and redis-server (loopback, temporary directories), one at
// a time; the output is one markdown table row per binary.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Broker, RawSubscriber, sleep } from '../tests/integration/lib/broker.mjs';
import { Conn } from '../tests/integration/lib/http.mjs';
import { RedisServer } from '../tests/integration/lib/redis.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bins = process.argv.slice(2).length ? process.argv.slice(2) : [path.join(root, 'build/ssebroker')];

async function pipelinedHeap(bin) {
  const b = new Broker(['--workers', '1']);
  b.bin = bin;
  await b.start();
  try {
    const before = await b.metric('ssebroker_heap_allocated_bytes');
    const c = await Conn.open(b.port);
    c.sock.pause();
    c.write('GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n'.repeat(5000));
    await sleep(3000);
    const held = await b.metric('ssebroker_heap_allocated_bytes');
    c.destroy();
    return (held - before) / (1024 * 1024);
  } finally {
    await b.stop();
  }
}

async function ackMedians(bin) {
  const redis = await new RedisServer({ aof: false }).start();
  const b = new Broker(['--workers', '1', '--redis', redis.url, '--redis-timeout', '3s']);
  b.bin = bin;
  await b.start();
  const median = (xs) => xs.sort((x, y) => x - y)[xs.length >> 1];
  const timed = async (i) => {
    const t0 = process.hrtime.bigint();
    const r = await b.publish({ topic: 'c', data: String(i) });
    if (r.status !== 200) throw new Error(`publish ${r.status}`);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  try {
    const alone = [];
    for (let i = 0; i < 20; i++) alone.push(await timed(i));
    const behind = [];
    const subs = [];
    for (let i = 0; i < 20; i++) {
      subs.push(new RawSubscriber(b.port, '?topic=c', { 'Last-Event-ID': `unknown-${i}` }));
      await sleep(10);
      behind.push(await timed(i));
    }
    subs.forEach((s) => s.close());
    return [median(alone), median(behind)];
  } finally {
    await b.stop();
    await redis.stop();
  }
}

console.log('| binary | heap pinned by 5,000 unread pipelined GET /metrics | publish ack p50 alone | with resumes parked on unknown ids |');
console.log('| --- | --- | --- | --- |');
for (const bin of bins) {
  const heap = await pipelinedHeap(bin);
  const [alone, behind] = await ackMedians(bin);
  console.log(`| ${bin} | ${heap.toFixed(1)} MiB | ${alone.toFixed(2)} ms | ${behind.toFixed(2)} ms |`);
}
