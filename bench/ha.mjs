// What --redis-wait-replicas costs: append (publish acknowledgement) and delivery latency, and
// the publish rate of 8 concurrent publishers, for a node with --redis-wait-replicas 0 and one
// with 1, each on its own Stream of the same master with one replica (redis-server, loopback,
// AOF appendfsync always as the tests run it).
//
//   node bench/ha.mjs [sequential publishes (2000)] [seconds of concurrent publishing (5)] [aof|noaof]
//
// aof (default): both servers appendonly yes, appendfsync always; noaof: no persistence, which
// leaves what WAIT itself costs.
//
// Sequential: one publish at a time; its acknowledgement latency (send -> 200) and its delivery
// latency (send -> the event on a subscriber of the same node) are recorded, so neither includes
// queueing. Concurrent: 8 keep-alive publishers as fast as they are answered.
import { Broker, RawSubscriber, keepAlivePublisher, sleep } from '../tests/integration/lib/broker.mjs';
import { RedisServer } from '../tests/integration/lib/redis.mjs';

const N = Number(process.argv[2] || 2000);
const SECONDS = Number(process.argv[3] || 5);
const AOF = (process.argv[4] || 'aof') === 'aof';

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const ms = (x) => x.toFixed(3);

async function measure(b, label) {
  const sub = new RawSubscriber(b.port, '?topic=bench');
  await sub.ready();
  const pub = keepAlivePublisher(b.port, 1);
  const ack = [], deliver = [];
  for (let i = 0; i < N; i++) {
    const id = `${label}-${i}`;
    const t0 = process.hrtime.bigint();
    const r = await pub.send(`topic=bench&id=${id}&data=${i}`);
    const t1 = process.hrtime.bigint();
    if (r.status !== 200) throw new Error(`${label}: publish answered ${r.status} ${r.text}`);
    await sub.waitFor((s) => s.events.length > i && s.events[i].id === id, 5000);
    const t2 = process.hrtime.bigint();
    ack.push(Number(t1 - t0) / 1e6);
    deliver.push(Number(t2 - t0) / 1e6);
  }
  pub.close();
  sub.close();
  // Concurrent: 8 publishers.
  const conc = keepAlivePublisher(b.port, 8);
  let done = 0, failed = 0, stop = false;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 8 }, async (_, k) => {
    for (let i = 0; !stop; i++) {
      const r = await conc.send(`topic=bench-c&id=${label}-c${k}-${i}&data=${i}`);
      if (r.status === 200) done++; else failed++;
      if (Date.now() - t0 > SECONDS * 1000) stop = true;
    }
  }));
  conc.close();
  const rate = done / ((Date.now() - t0) / 1000);
  return { label, ack, deliver, rate, failed };
}

const master = await new RedisServer({ aof: AOF }).start();
const replica = await new RedisServer({ aof: AOF, args: ['--replicaof', '127.0.0.1', String(master.port)] }).start();
const nodes = [];
try {
  while (!/master_link_status:up/.test(replica.cli('INFO', 'replication'))) await sleep(50);
  const rows = [];
  for (const wait of [0, 1]) {
    const b = await new Broker(['--redis', master.url, '--redis-stream', `bench-wait${wait}`,
      '--redis-wait-replicas', String(wait), '--workers', '1']).start();
    nodes.push(b);
    while ((await fetch(`${b.base}/readyz`)).status !== 200) await sleep(50);
    rows.push(await measure(b, `wait${wait}`));
  }
  console.log(`redis-server ${master.cli('INFO', 'server').match(/redis_version:(\S+)/)[1]}, master + 1 replica on loopback, ${AOF ? 'AOF appendfsync always' : 'no persistence'}, ${N} sequential publishes, ${SECONDS} s of 8 concurrent publishers`);
  console.log('| --redis-wait-replicas | ack p50 | ack p99 | delivery p50 | delivery p99 | publishes/s, 8 publishers | refused |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${r.label.slice(4)} | ${ms(pct(r.ack, 50))} ms | ${ms(pct(r.ack, 99))} ms | ${ms(pct(r.deliver, 50))} ms | ${ms(pct(r.deliver, 99))} ms | ${Math.round(r.rate)} | ${r.failed} |`);
  }
} finally {
  for (const b of nodes) await b.stop();
  await replica.stop();
  await master.stop();
}
