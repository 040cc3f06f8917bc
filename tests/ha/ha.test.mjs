// High availability through Redis Sentinel, on real processes: a master, a replica and three
// redis-sentinel processes on loopback, broker nodes configured with only the sentinels'
// addresses, concurrent publishers on every node. The master is killed with SIGKILL, the
// sentinels promote the replica, the old master is started again (and becomes a replica); what
// every subscriber on every node received is compared with what the publishers were told.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HaRedis, MASTER_NAME, until, readyz } from './lib/ha.mjs';
import { RawSubscriber, keepAlivePublisher, sleep } from '../integration/lib/broker.mjs';

// Publishes to one node until stopped; records every answer with the time it was sent.
function publisher(b, prefix, pauseMs = 5) {
  let stopped = false;
  const answers = [];
  const done = (async () => {
    const pub = keepAlivePublisher(b.port, 1);
    for (let i = 0; !stopped; i++) {
      const id = `${prefix}-${i}`;
      const sent = Date.now();
      const r = await pub.send(`topic=c&id=${id}&data=${i}`);
      answers.push({ id, sent, at: Date.now(), status: r.status, ok: r.status === 200 && r.text === id, text: r.text });
      await sleep(pauseMs);
    }
    pub.close();
    return answers;
  })();
  return { answers, stop: () => { stopped = true; return done; } };
}

const ids = (sub) => sub.events.map((e) => e.id);

// Every subscriber saw every acknowledged update, nothing twice, and all of them the same
// sequence; each publisher's acknowledged updates in the order it sent them.
function checkDelivery(subs, answers) {
  const acked = answers.map((a) => a.filter((x) => x.ok).map((x) => x.id));
  const ref = ids(subs[0]);
  for (const [k, s] of subs.entries()) {
    const got = ids(s);
    assert.equal(new Set(got).size, got.length, `subscriber ${k}: nothing twice`);
    const have = new Set(got);
    const missing = acked.flat().filter((id) => !have.has(id));
    assert.deepEqual(missing, [], `subscriber ${k}: every acknowledged update`);
    assert.deepEqual(got, ref, `subscriber ${k}: the same sequence as subscriber 0`);
  }
  const pos = new Map(ref.map((id, i) => [id, i]));
  for (const series of acked) for (let i = 1; i < series.length; i++) assert.ok(pos.get(series[i - 1]) < pos.get(series[i]));
}

// Watches /readyz of every node until stopped: whether each was seen failing, and passing after.
function readinessWatch(nodes) {
  let stopped = false;
  const seen = nodes.map(() => ({ failed: false, passedAfter: false }));
  const done = (async () => {
    while (!stopped) {
      const st = await Promise.all(nodes.map((b) => readyz(b)));
      st.forEach((s, i) => {
        if (s !== 200) seen[i].failed = true;
        else if (seen[i].failed) seen[i].passedAfter = true;
      });
      await sleep(50);
    }
    return seen;
  })();
  return { stop: () => { stopped = true; return done; } };
}

// How long the sentinels may take to make a returning old master a replica of the new one and
// for it to sync: they act on a role they saw for 8 s (SENTINEL_PUBLISH_PERIOD x 4) and look at
// replicas every 10 s, so 15-17 s is usual here, and more on a loaded machine (CI ran over 30 s
// once, with the integration groups beside it).
const SENTINEL_RECONFIGURE_MS = 60000;

// What a test started that must not outlive it, failed or not: publishers, subscribers, a
// readiness watch (left running, they kept the file alive until its timeout).
class Running {
  constructor() { this.all = []; }
  pubs(list) { this.all.push(...list.map((p) => () => p.stop())); return list; }
  subs(list) { this.all.push(...list.map((s) => () => s.close())); return list; }
  watch(w) { this.all.push(() => w.stop()); return w; }
  stop() { for (const f of this.all) f(); }
}

test('SIGKILL of the master with --redis-wait-replicas 1: the sentinels promote the replica, the nodes follow with no restart, nothing acknowledged is lost, every subscriber sees one order exactly once, the old master comes back as a replica', async () => {
  // min-replicas-to-write fences an isolated master; the nodes warn without it.
  const ha = await new HaRedis({ masterArgs: ['--min-replicas-to-write', '1', '--min-replicas-max-lag', '10'] }).start();
  const running = new Running();
  try {
    const nodes = [];
    for (let i = 0; i < 3; i++) nodes.push(await ha.node(['--redis-wait-replicas', '1', '--redis-timeout', '1s']).start());
    for (const b of nodes) await until(async () => (await readyz(b)) === 200, 'node ready');
    const subs = running.subs(nodes.flatMap((b) => [new RawSubscriber(b.port, '?topic=c'), new RawSubscriber(b.port, '?topic=c')]));
    await Promise.all(subs.map((s) => s.ready()));
    const pubs = running.pubs(nodes.flatMap((b, i) => [publisher(b, `n${i}a`), publisher(b, `n${i}b`)]));
    await sleep(1500);
    const watch = running.watch(readinessWatch(nodes));
    const old = ha.master;
    const killedAt = Date.now();
    await old.kill();
    await until(() => ha.sentinels.every((s) => s.masterPortNow() === ha.replicas[0].port), 'the replica promoted', 20000);
    const promotedAt = Date.now();
    // The old master comes back on its own files; the sentinels make it a replica of the new one.
    await old.start();
    const restartedAt = Date.now();
    await until(() => /role:slave/.test(old.cli('INFO', 'replication')) && /master_link_status:up/.test(old.cli('INFO', 'replication')),
      'the old master is a replica of the new one', SENTINEL_RECONFIGURE_MS);
    const rejoinedAt = Date.now();
    for (const b of nodes) await until(async () => (await readyz(b)) === 200, 'nodes ready again', 20000);
    await sleep(1000);
    const answers = await Promise.all(pubs.map((p) => p.stop()));
    const seen = await watch.stop();
    const all = answers.flat();
    const firstAck = all.filter((a) => a.ok && a.sent >= killedAt).sort((x, y) => x.at - y.at)[0];
    const refused = all.filter((a) => !a.ok);
    console.log(`# failover with --redis-wait-replicas 1 and one replica: promoted ${promotedAt - killedAt} ms after the kill; old master restarted at ${restartedAt - killedAt} ms, a replica of the new one at ${rejoinedAt - killedAt} ms (Sentinel reconfigures it); first acknowledged publish ${firstAck.at - killedAt} ms after the kill; ${all.filter((a) => a.ok).length} acknowledged, ${refused.length} refused (${[...new Set(refused.map((a) => a.status))]})`);
    assert.ok(refused.length > 0, 'publishes during the failover were refused');
    assert.ok(refused.every((a) => a.status === 503), 'refused with 503, never another answer');
    assert.ok(seen.every((s) => s.failed && s.passedAfter), `/readyz failed during the failover and passed after it on every node (${JSON.stringify(seen)})`);
    // Nothing acknowledged is missing from the new master's Stream.
    const inStream = new Set(ha.replicas[0].streamIds());
    assert.deepEqual(all.filter((a) => a.ok && !inStream.has(a.id)).map((a) => a.id), [], 'every acknowledged update is in the Stream');
    const total = inStream.size;
    for (const s of subs) await s.waitFor((x) => x.events.length >= total, 15000).catch(() => {});
    await sleep(300);
    checkDelivery(subs, answers);
    assert.deepEqual(ids(subs[0]), ha.replicas[0].streamIds(), 'the subscribers saw the Stream, in its order');
    assert.ok(subs.every((s) => !s.closed), 'no stream was cut');
    for (const b of nodes) assert.equal(await b.metric('ssebroker_history_discontinuities_total'), 0);
  } finally {
    running.stop();
    await ha.stop();
  }
});

// Cuts the replica off its master (it cannot authenticate any more) while both keep running: what
// the master takes from now on is on no replica.
function cutReplicaOff(replica) {
  replica.cli('CONFIG', 'SET', 'masterauth', 'not-the-password');
  replica.cli('CLIENT', 'KILL', 'TYPE', 'master');
}

test('nothing a failover takes back is ever delivered with --redis-wait-replicas 1; without it the loss is a detected break (streams cut, Last-Event-ID earliest)', async () => {
  const ha = await new HaRedis().start();
  try {
    const safe = await ha.node(['--redis-wait-replicas', '1', '--redis-timeout', '500ms']).start();
    const fast = await ha.node([]).start(); // --redis-wait-replicas 0
    for (const b of [safe, fast]) await until(async () => (await readyz(b)) === 200, 'node ready');
    const subSafe = new RawSubscriber(safe.port, '?topic=c');
    const subFast = new RawSubscriber(fast.port, '?topic=c');
    await Promise.all([subSafe.ready(), subFast.ready()]);
    assert.equal((await safe.publish({ topic: 'c', id: 'a', data: 'on both' })).status, 200);
    await subSafe.waitFor((s) => ids(s).includes('a'));
    await subFast.waitFor((s) => ids(s).includes('a'));
    cutReplicaOff(ha.replicas[0]);
    await until(() => /connected_slaves:0/.test(ha.master.cli('INFO', 'replication')), 'the replica cut off');
    // The safe node: 503 in about --redis-timeout, and it shows nobody what it could not replicate.
    const t0 = Date.now();
    const b = await safe.publish({ topic: 'c', id: 'b', data: 'master only' });
    const took = Date.now() - t0;
    assert.equal(b.status, 503);
    assert.match(b.body, /not known to be replicated/);
    assert.ok(b.headers.get('retry-after'));
    assert.ok(took >= 400 && took < 2000, `503 after about --redis-timeout (${took} ms)`);
    await until(async () => (await readyz(safe)) === 503, 'the safe node not ready (no replica)');
    // The fast node acknowledges and delivers at once what only the master has.
    assert.equal((await fast.publish({ topic: 'c', id: 'c', data: 'master only' })).status, 200);
    await subFast.waitFor((s) => ids(s).includes('c'));
    await sleep(500);
    assert.deepEqual(ids(subSafe), ['a'], 'the safe node delivered nothing that is on no replica');
    // The master dies; the sentinels promote the replica, which never had b or c.
    await ha.master.kill();
    const killedAt = Date.now();
    // Without waiting for replicas, the fast node takes publishes again as soon as it has found
    // the new master.
    const firstAck = (async () => {
      const pub = keepAlivePublisher(fast.port, 1);
      for (let i = 0; ; i++) {
        const r = await pub.send(`topic=probe&id=probe-${i}&data=x`);
        if (r.status === 200) { pub.close(); return Date.now() - killedAt; }
        assert.equal(r.status, 503, 'refused with 503 meanwhile');
        await sleep(20);
      }
    })();
    await until(() => ha.sentinels.every((s) => s.masterPortNow() === ha.replicas[0].port), 'the replica promoted', 20000);
    const promoted = Date.now() - killedAt;
    console.log(`# failover with --redis-wait-replicas 0: promoted ${promoted} ms after the kill, first acknowledged publish ${await firstAck} ms after it`);
    // The fast node finds that what it delivered is gone: a break, its stream is cut.
    await subFast.waitFor((s) => s.closed, 15000);
    await until(async () => (await fast.metric('ssebroker_history_discontinuities_total')) >= 1, 'the break counted');
    const resumed = new RawSubscriber(fast.port, '?topic=c', { 'Last-Event-ID': 'c' });
    await resumed.ready();
    assert.match(resumed.headers, /Last-Event-ID: earliest/i, 'a resume from the lost update is told so');
    resumed.close();
    // The safe node never showed b or c: no break, its stream goes on with the new master.
    await until(async () => (await readyz(fast)) === 200, 'the fast node ready again', 15000);
    assert.equal(await safe.metric('ssebroker_history_discontinuities_total'), 0);
    assert.ok(!subSafe.closed, 'the safe node\'s stream was not cut');
    assert.equal((await fast.publish({ topic: 'c', id: 'd', data: 'after' })).status, 200);
    await subSafe.waitFor((s) => ids(s).includes('d'), 15000).catch(() => {});
    assert.deepEqual(ids(subSafe), ['a'], 'd is on no replica yet: held back on the safe node');
    subSafe.close();
    subFast.close();
  } finally {
    await ha.stop();
  }
});

test('a master with no replica and --redis-wait-replicas 1: 503 in about --redis-timeout, a warning about min-replicas-to-write, /readyz fails', async () => {
  const ha = await new HaRedis({ replicas: 0 }).start();
  try {
    const b = await ha.node(['--redis-wait-replicas', '1', '--redis-timeout', '700ms']).start();
    await until(async () => /min-replicas-to-write is 0/.test(b.stderr), 'the warning');
    await until(async () => (await readyz(b)) === 503, 'not ready');
    const body = await (await fetch(`${b.base}/readyz`)).text();
    assert.match(body, /fewer replicas than --redis-wait-replicas/);
    const sub = new RawSubscriber(b.port, '?topic=c');
    await sub.ready();
    const times = [];
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const r = await b.publish({ topic: 'c', id: `x${i}`, data: 'x' });
      times.push(Date.now() - t0);
      assert.equal(r.status, 503);
    }
    console.log(`# no replica: 503 after ${times.join(', ')} ms (--redis-timeout 700ms)`);
    assert.ok(times.every((t) => t >= 600 && t < 1500), `about --redis-timeout: ${times}`);
    await sleep(300);
    assert.deepEqual(ids(sub), [], 'nothing delivered');
    assert.ok(await b.metric('ssebroker_redis_append_errors_total{reason="unreplicated"}') >= 3);
    sub.close();
  } finally {
    await ha.stop();
  }
});

test('a planned failover (SENTINEL FAILOVER, both servers alive): the nodes move to the new master within seconds, the old one keeps no writer, nothing acknowledged is lost or delivered twice', async () => {
  const ha = await new HaRedis({ masterArgs: ['--min-replicas-to-write', '1', '--min-replicas-max-lag', '10'] }).start();
  const running = new Running();
  try {
    const nodes = [];
    for (let i = 0; i < 2; i++) nodes.push(await ha.node(['--redis-wait-replicas', '1']).start());
    for (const b of nodes) await until(async () => (await readyz(b)) === 200, 'node ready');
    const subs = running.subs(nodes.map((b) => new RawSubscriber(b.port, '?topic=c')));
    await Promise.all(subs.map((s) => s.ready()));
    const pubs = running.pubs(nodes.map((b, i) => publisher(b, `p${i}`)));
    await sleep(800);
    const old = ha.master;
    const t0 = Date.now();
    assert.match(ha.sentinels[0].cli('SENTINEL', 'FAILOVER', MASTER_NAME), /OK/);
    await until(() => ha.sentinels.every((s) => s.masterPortNow() === ha.replicas[0].port), 'the replica promoted', 20000);
    const promoted = Date.now() - t0;
    await until(() => /role:slave/.test(old.cli('INFO', 'replication')) && /master_link_status:up/.test(old.cli('INFO', 'replication')),
      'the old master follows the new one', SENTINEL_RECONFIGURE_MS);
    const following = Date.now() - t0;
    // Every node writes to the new master now: its writer and bridge left the old one.
    await until(() => pubs.every((p) => p.answers.some((a) => a.ok && a.sent > t0 + promoted)), 'publishes acknowledged again', 15000);
    await sleep(500);
    const answers = await Promise.all(pubs.map((p) => p.stop()));
    // The longest time without an acknowledgement: how long publishing was unavailable.
    const acks = answers.flat().filter((a) => a.ok).map((a) => a.at).sort((x, y) => x - y);
    const gap = Math.max(...acks.slice(1).map((t, i) => t - acks[i]));
    const firstAfter = Math.min(...answers.flat().filter((a) => a.ok && a.sent > t0 + promoted).map((a) => a.at)) - t0;
    console.log(`# planned failover: promoted ${promoted} ms after SENTINEL FAILOVER, the old master a replica of the new one at ${following} ms, first acknowledged publish sent after the promotion at ${firstAfter} ms; longest time without an acknowledged publish ${gap} ms`);
    const clients = old.cli('CLIENT', 'LIST');
    assert.ok(!/cmd=(evalsha|xread|wait)/.test(clients), `no node still uses the old master:\n${clients}`);
    const inStream = ha.replicas[0].streamIds();
    const set = new Set(inStream);
    assert.deepEqual(answers.flat().filter((a) => a.ok && !set.has(a.id)).map((a) => a.id), [], 'every acknowledged update is in the Stream');
    for (const s of subs) await s.waitFor((x) => x.events.length >= inStream.length, 15000).catch(() => {});
    checkDelivery(subs, answers);
    assert.deepEqual(ids(subs[0]), inStream);
    for (const b of nodes) assert.equal(await b.metric('ssebroker_history_discontinuities_total'), 0);
  } finally {
    running.stop();
    await ha.stop();
  }
});
