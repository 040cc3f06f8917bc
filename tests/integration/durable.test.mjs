// The embedded log (--history-dir): what survives a restart, a SIGKILL in the middle of a burst,
// a damaged file; the directory lock; retention. Every check reads the history back the way a
// client does: a subscriber asking for Last-Event-ID: earliest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Broker, BIN, HUB, PUBLISH_ALL, keepAlivePublisher, sleep } from './lib/broker.mjs';

const tmpdir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sseb-durable-'));

// Every event id a fresh subscriber gets with Last-Event-ID: earliest, once the stream goes quiet.
async function replayIds(port, topic = 'd') {
  const sock = net.connect(port, '127.0.0.1');
  let text = '';
  let last = Date.now();
  sock.on('data', (d) => { text += d.toString('latin1'); last = Date.now(); });
  sock.on('error', () => {});
  sock.on('connect', () => sock.write(`GET ${HUB}?topic=${topic} HTTP/1.1\r\nHost: t\r\nLast-Event-ID: earliest\r\n\r\n`));
  const start = Date.now();
  while (Date.now() - last < 700 && Date.now() - start < 60000) await sleep(100);
  sock.destroy();
  return [...text.matchAll(/^id: (.+)$/gm)].map((m) => m[1]);
}

// Publishes from `conns` keep-alive connections, one request after the other on each, until
// stopped or an error; returns the ids each connection had acknowledged, in order.
function publishers(port, conns, prefix) {
  let stopped = false;
  const runs = Array.from({ length: conns }, (_, p) => (async () => {
    const pub = keepAlivePublisher(port, 1);
    const acked = [];
    for (let i = 0; !stopped; i++) {
      const id = `${prefix}-p${p}-${i}`;
      const r = await pub.send(`topic=d&id=${id}&data=${'x'.repeat(64)}`);
      if (r.status !== 200 || r.text !== id) break;
      acked.push(id);
    }
    pub.close();
    return acked;
  })());
  return { stop: () => { stopped = true; }, done: Promise.all(runs) };
}

async function kill9(b) {
  b.proc.ref(); // lib/broker.mjs unrefs the child: keep the event loop alive until its exit arrives
  b.proc.kill('SIGKILL');
  await b.exited;
}

function segments(dir) {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
}

const BIG = ['--history-size', '1000000', '--history-bytes', '1024MiB', '--workers', '2'];

test('history survives a restart: earliest, Last-Event-ID, and new updates after the old ones', async () => {
  const dir = tmpdir();
  try {
    let b = await new Broker(['--history-dir', dir]).start();
    for (let i = 0; i < 30; i++) assert.equal((await b.publish({ topic: 'd', id: `e${i}`, data: `v${i}` })).status, 200);
    await b.stop();
    b = await new Broker(['--history-dir', dir]).start();
    assert.match(b.stderr, /history recovered[^\n]*records=30/);
    assert.deepEqual(await replayIds(b.port), Array.from({ length: 30 }, (_, i) => `e${i}`));
    await b.publish({ topic: 'd', id: 'after', data: 'x' });
    const ids = await replayIds(b.port);
    assert.equal(ids.length, 31);
    assert.equal(ids[30], 'after');
    // Resuming from an id of the previous run.
    const sock = net.connect(b.port, '127.0.0.1');
    let text = '';
    sock.on('data', (d) => { text += d; });
    sock.on('connect', () => sock.write(`GET ${HUB}?topic=d HTTP/1.1\r\nHost: t\r\nLast-Event-ID: e27\r\n\r\n`));
    const until = Date.now() + 5000;
    while (!text.includes('id: after') && Date.now() < until) await sleep(50);
    sock.destroy();
    assert.deepEqual([...text.matchAll(/^id: (.+)$/gm)].map((m) => m[1]), ['e28', 'e29', 'after']);
    assert.match(text, /\r\nLast-Event-ID: e27\r\n/);
    await b.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

for (const mode of ['always', 'interval', 'never']) {
  test(`kill -9 in the middle of a burst (--fsync ${mode}): every acknowledged update is there once, in its publisher's order`, { timeout: 120000 }, async () => {
    const dir = tmpdir();
    try {
      const acked = [];
      for (let round = 0; round < 3; round++) {
        const b = await new Broker([...BIG, '--history-dir', dir, '--fsync', mode, '--fsync-interval', '50ms']).start();
        const pubs = publishers(b.port, 8, `r${round}`);
        await sleep(300 + Math.floor(Math.random() * 500));
        await kill9(b); // mid-burst: requests in flight get no answer and are not counted
        pubs.stop();
        acked.push(...(await pubs.done));
      }
      const b = await new Broker([...BIG, '--history-dir', dir, '--fsync', mode]).start();
      const ids = await replayIds(b.port);
      await b.stop();
      const seen = new Map();
      ids.forEach((id, i) => {
        assert.ok(!seen.has(id), `${id} replayed twice`);
        seen.set(id, i);
      });
      let total = 0;
      for (const list of acked) {
        total += list.length;
        let prev = -1;
        for (const id of list) {
          assert.ok(seen.has(id), `acknowledged ${id} is missing after kill -9 (${ids.length} replayed)`);
          assert.ok(seen.get(id) > prev, `${id} out of its publisher's order`);
          prev = seen.get(id);
        }
      }
      assert.ok(total > 50, `only ${total} updates were acknowledged: the test proved little`);
      // Nothing but what was sent: at most the unanswered in-flight request per publisher extra.
      assert.ok(ids.length <= total + 3 * 8, `${ids.length} replayed for ${total} acknowledged`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

async function fiveEvents(dir) {
  const b = await new Broker(['--history-dir', dir]).start();
  for (let i = 0; i < 5; i++) await b.publish({ topic: 'd', id: `t${i}`, data: 'y'.repeat(100) });
  await b.stop();
  return path.join(dir, segments(dir).at(-1));
}

test('a torn tail is truncated at its first bad record: cut short, garbage appended, a flipped bit', async () => {
  const damage = {
    'cut short': (f) => fs.truncateSync(f, fs.statSync(f).size - 7),
    'garbage appended': (f) => fs.appendFileSync(f, Buffer.from('not a record at all, just bytes \x01\x02\x03')),
    'a flipped bit in the last record': (f) => {
      const buf = fs.readFileSync(f);
      buf[buf.length - 20] ^= 0x10;
      fs.writeFileSync(f, buf);
    },
  };
  for (const [what, hurt] of Object.entries(damage)) {
    const dir = tmpdir();
    try {
      const file = await fiveEvents(dir);
      hurt(file);
      const b = await new Broker(['--history-dir', dir]).start();
      const want = what === 'garbage appended' ? ['t0', 't1', 't2', 't3', 't4'] : ['t0', 't1', 't2', 't3'];
      assert.deepEqual(await replayIds(b.port), want, what);
      assert.match(b.stderr, /history tail truncated/, what);
      // Appends go on from the cut, and survive the next restart.
      assert.equal((await b.publish({ topic: 'd', id: 'next', data: 'z' })).status, 200);
      await b.stop();
      const b2 = await new Broker(['--history-dir', dir]).start();
      assert.deepEqual(await replayIds(b2.port), [...want, 'next'], what);
      assert.doesNotMatch(b2.stderr, /history tail truncated/, `${what}: the repaired log is clean`);
      assert.match(b2.stderr, /truncated_bytes=0 /);
      await b2.stop();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});

for (const which of [0, 1]) {
  test(`a bad record in an older segment (#${which}) sets that segment aside; the others are kept`, async () => {
    const dir = tmpdir();
    try {
      const args = ['--history-dir', dir, '--history-segment-bytes', '64KiB'];
      let b = await new Broker(args).start();
      for (let i = 0; i < 300; i++) await b.publish({ topic: 'd', id: `s${i}`, data: 'q'.repeat(1000) });
      await b.stop();
      const segs = segments(dir);
      assert.ok(segs.length >= 4, `segments: ${segs}`);
      const hurt = path.join(dir, segs[which]);
      const buf = fs.readFileSync(hurt);
      buf[Math.floor(buf.length / 2)] ^= 0xff;
      fs.writeFileSync(hurt, buf);
      b = await new Broker(args).start();
      assert.match(b.stderr, /history segment damaged, set aside/);
      assert.match(b.stderr, /discontinuities=1 /, 'one break, counted once');
      assert.equal(await b.metric('ssebroker_history_discontinuities_total'), 1);
      assert.ok((await b.metric('ssebroker_store_segments')) >= 3);
      assert.ok(fs.existsSync(`${hurt}.corrupt`));
      const ids = await replayIds(b.port);
      assert.equal(ids.at(-1), 's299', 'the newest updates are all there');
      if (which === 1) assert.equal(ids[0], 's0', 'the segment before the damaged one is kept');
      assert.ok(ids.length > 200 && ids.length < 300, `${ids.length} replayed`);
      assert.ok(ids.every((id, i) => i === 0 || Number(id.slice(1)) > Number(ids[i - 1].slice(1))), 'in order');
      await b.stop();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

// REVIEW D4: the records after the damage in a set-aside segment were acknowledged and are gone.
// A resume from before the damage must hear so (Last-Event-ID: earliest), never skip them
// silently; after the damage, resumes go on as before. Whether the id is in memory or only in the
// files, and at the next start too (the segment set aside leaves a hole in the record numbers).
test('a damaged sealed segment is a break: a resume from before it is answered earliest, never a silent gap', { timeout: 60000 }, async () => {
  const dir = tmpdir();
  try {
    const args = ['--history-dir', dir, '--history-segment-bytes', '64KiB', '--fsync', 'never'];
    let b = await new Broker(args).start();
    const pub = keepAlivePublisher(b.port, 1);
    for (let i = 0; i < 600; i++) await pub.publish(`topic=d&id=e${i}&data=${'p'.repeat(300)}`);
    pub.close();
    await b.stop();
    const segs = segments(dir);
    assert.ok(segs.length >= 4, `segments: ${segs}`);
    const hurt = path.join(dir, segs[1]);
    const buf = fs.readFileSync(hurt);
    buf[Math.floor(buf.length / 2)] ^= 0xff;
    fs.writeFileSync(hurt, buf);
    for (const extra of [[], ['--history-memory', '50']]) {
      b = await new Broker([...args, ...extra]).start();
      const what = extra.length ? 'the id only in the files, next start' : 'the id in memory';
      assert.equal(await b.metric('ssebroker_history_discontinuities_total'), 1, what);
      const before = await resumeIds(b.port, 'e10');
      assert.match(before.head, /\r\nLast-Event-ID: earliest\r\n/, `${what}: told`);
      assert.ok(!before.ids.includes('e11'), `${what}: nothing claims to follow on from e10`);
      const after = await resumeIds(b.port, 'e590');
      assert.match(after.head, /\r\nLast-Event-ID: e590\r\n/, what);
      assert.deepEqual(after.ids, Array.from({ length: 9 }, (_, i) => `e${591 + i}`), what);
      await b.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// --history-size N means what it means without --history-dir: earliest replays at most the newest
// N, even though files are removed by whole segments; an id older than the window is unknown.
test('--history-size bounds what a restarted log replays, exactly, from memory and from the files', { timeout: 60000 }, async () => {
  const dir = tmpdir();
  try {
    const args = ['--history-dir', dir, '--history-segment-bytes', '64KiB', '--fsync', 'never'];
    let b = await new Broker(args).start();
    const pub = keepAlivePublisher(b.port, 1);
    for (let i = 0; i < 1000; i++) await pub.publish(`topic=d&id=w${i}&data=${'w'.repeat(300)}`);
    pub.close();
    await b.stop();
    const newest = (n) => Array.from({ length: n }, (_, i) => `w${1000 - n + i}`);
    b = await new Broker([...args, '--history-size', '100', '--history-memory', '10']).start();
    assert.deepEqual(await replayIds(b.port), newest(100), 'earliest: the newest 100, from the files');
    const old = await resumeIds(b.port, 'w850');
    assert.match(old.head, /\r\nLast-Event-ID: earliest\r\n/, 'older than the window: unknown');
    assert.deepEqual(old.ids, []);
    const inside = await resumeIds(b.port, 'w950');
    assert.deepEqual(inside.ids, newest(49));
    // Publishing on moves the window: still the newest 100.
    await b.publish({ topic: 'd', id: 'w1000', data: 'x' });
    assert.deepEqual(await replayIds(b.port), [...newest(99), 'w1000']);
    await b.stop();
    b = await new Broker([...args, '--history-size', '30']).start();
    assert.deepEqual(await replayIds(b.port), [...newest(29), 'w1000'], 'earliest: the newest 30, from memory');
    await b.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// The reader verifies a find against the record it names, reading a small guess first: a record
// larger than the guess (or than a read chunk) is read whole.
test('a Last-Event-ID older than memory is found however large its record', { timeout: 60000 }, async () => {
  const dir = tmpdir();
  try {
    const b = await new Broker(['--history-dir', dir, '--history-memory', '5', '--fsync', 'never']).start();
    const pub = keepAlivePublisher(b.port, 1);
    for (let i = 0; i < 40; i++) await pub.publish(`topic=d&id=L${i}&data=${'L'.repeat(i % 2 ? 20000 : 100000)}`);
    pub.close();
    for (const from of [3, 10]) {
      const r = await resumeIds(b.port, `L${from}`);
      assert.match(r.head, new RegExp(`\\r\\nLast-Event-ID: L${from}\\r\\n`));
      assert.deepEqual(r.ids, Array.from({ length: 39 - from }, (_, i) => `L${from + 1 + i}`));
    }
    assert.ok(await b.metric('ssebroker_store_replay_finds_total') >= 2);
    await b.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// REVIEW D6: the log reads back records of at most 512 MiB. A larger one is refused before it is
// acknowledged, so an acknowledged update is always one the log can replay after a restart.
test('an update whose record the log could not read back is refused with 413, and the log stays whole', { timeout: 120000 }, async () => {
  const dir = tmpdir();
  try {
    const args = ['--history-dir', dir, '--max-body-bytes', '100MiB', '--fsync', 'never'];
    let b = await new Broker(args).start();
    assert.equal((await b.publish({ topic: 'd', id: 'small-1', data: 'x' })).status, 200);
    // 80 million line breaks: 80 MB of body, 560 MB as SSE ("data: " and a line break each).
    const body = `topic=d&id=huge&data=${'\n'.repeat(80 * 1000 * 1000)}`;
    const res = await fetch(b.url(), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Bearer ${PUBLISH_ALL}` },
      body,
    });
    assert.equal(res.status, 413);
    assert.match(await res.text(), /512MiB/);
    assert.equal((await b.publish({ topic: 'd', id: 'small-2', data: 'x' })).status, 200);
    await b.stop();
    b = await new Broker(args).start();
    assert.doesNotMatch(b.stderr, /history tail truncated|set aside/);
    assert.deepEqual(await replayIds(b.port), ['small-1', 'small-2']);
    await b.stop();
    const help = spawnSync(BIN, ['--help'], { encoding: 'utf8' });
    assert.match(help.stdout + help.stderr, /--max-body-bytes[^\n]*512MiB[^\n]*413/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a second process on the same directory exits at once, naming it', async () => {
  const dir = tmpdir();
  try {
    const b = await new Broker(['--history-dir', dir]).start();
    const started = Date.now();
    const r = spawnSync(BIN, ['--listen', '127.0.0.1:0', '--history-dir', dir], { encoding: 'utf8', timeout: 10000 });
    assert.notEqual(r.status, 0);
    assert.ok(Date.now() - started < 5000);
    assert.ok(r.stderr.includes(`history directory ${dir} is in use by another ssebroker process`), r.stderr);
    await b.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('retention removes whole old segments: disk use stays within the bound plus one segment', async () => {
  const dir = tmpdir();
  try {
    const args = ['--history-dir', dir, '--history-size', '50', '--history-segment-bytes', '64KiB', '--fsync', 'never'];
    let b = await new Broker(args).start();
    for (let i = 0; i < 1000; i++) await b.publish({ topic: 'd', id: `k${i}`, data: 'w'.repeat(1000) });
    const bytes = segments(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    assert.ok(bytes <= 2 * 64 * 1024 + 4096, `${bytes} bytes on disk for 50 retained updates of 1 KB`);
    assert.equal(await b.metric('ssebroker_store_disk_bytes'), bytes, 'the gauge says what the files hold');
    assert.equal(await b.metric('ssebroker_store_records_total'), 1000);
    await b.stop();
    b = await new Broker(args).start();
    const ids = await replayIds(b.port);
    assert.deepEqual(ids, Array.from({ length: 50 }, (_, i) => `k${950 + i}`), 'the newest --history-size');
    await b.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Reads a stream with the given Last-Event-ID until it goes quiet: the ids, and the response head.
async function resumeIds(port, lastEventId, topic = 'd', headers = '') {
  const sock = net.connect(port, '127.0.0.1');
  let text = '';
  let last = Date.now();
  sock.on('data', (d) => { text += d.toString('latin1'); last = Date.now(); });
  sock.on('error', () => {});
  sock.on('connect', () => sock.write(`GET ${HUB}?topic=${topic} HTTP/1.1\r\nHost: t\r\nLast-Event-ID: ${lastEventId}\r\n${headers}\r\n`));
  const start = Date.now();
  while (Date.now() - last < 700 && Date.now() - start < 60000) await sleep(100);
  sock.destroy();
  return { ids: [...text.matchAll(/^id: (.+)$/gm)].map((m) => m[1]), head: text.slice(0, text.indexOf('\r\n\r\n')) };
}

test('replay older than the in-memory tier streams from the files, before and after a restart', async () => {
  const dir = tmpdir();
  try {
    const args = ['--history-dir', dir, '--history-size', '5000', '--history-memory', '100',
      '--history-segment-bytes', '64KiB', '--fsync', 'never'];
    let b = await new Broker(args).start();
    const want = [];
    for (let i = 0; i < 3000; i++) {
      if (i === 1500) assert.equal((await b.publish({ topic: 'd', id: 'secret', data: 'p', private: 'on' })).status, 200);
      const topic = i % 10 === 9 ? 'other' : 'd';
      assert.equal((await b.publish({ topic, id: `c${i}`, data: `v${i}-${'y'.repeat(200)}` })).status, 200);
      if (topic === 'd') want.push(`c${i}`);
    }
    assert.ok(segments(dir).length > 5, 'several segment files');
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(await replayIds(b.port), want, `earliest (round ${round})`);
      const r = await resumeIds(b.port, 'c20');
      assert.deepEqual(r.ids, want.slice(want.indexOf('c20') + 1), `from c20 (round ${round})`);
      assert.match(r.head, /\r\nLast-Event-ID: c20/);
      const r2 = await resumeIds(b.port, 'c1498');
      assert.deepEqual(r2.ids, want.slice(want.indexOf('c1498') + 1), 'from the middle; the private update withheld');
      assert.ok(await b.metric('ssebroker_store_replay_events_total') > 2000, 'read back from the files');
      assert.ok(await b.metric('ssebroker_store_replay_finds_total') >= 2, 'the ids were found on the reader thread');
      assert.ok(await b.metric('ssebroker_history_events') <= 100, 'memory holds only the hot tier');
      await b.stop();
      if (round === 0) b = await new Broker(args).start();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a storm of deep resumes from the files costs bounded memory, and each still gets everything', { timeout: 120000 }, async (t) => {
  // 20,000 retained updates of ~1 KB on disk, 1,000 of them in memory; 200 subscribers ask for
  // all of them and read nothing. Read back whole per stream that would be 200 x 20 MB; read a
  // bounded chunk at a time as each socket drains, it stays within a few MiB per hundred streams.
  const dir = tmpdir();
  const b = await new Broker(['--history-dir', dir, '--history-size', '20000', '--history-memory', '1000',
    '--history-bytes', '1GiB', '--fsync', 'never', '--workers', '2']).start();
  try {
    if (!(await fetch(`${b.base}/metrics`).then((r) => r.text())).includes('ssebroker_heap_allocated_bytes')) {
      t.skip('this build has no jemalloc heap gauge (sanitizer builds)');
      return;
    }
    const data = 'x'.repeat(1000);
    const pub = keepAlivePublisher(b.port);
    for (let i = 0; i < 20000; i += 8) await Promise.all(Array.from({ length: 8 }, (_, k) => pub.publish(`topic=deep&id=d-${i + k}&data=${data}`)));
    pub.close();
    const before = await b.metric('ssebroker_heap_allocated_bytes');
    const subs = [];
    for (let i = 0; i < 200; i++) {
      const sock = net.connect(b.port, '127.0.0.1');
      const s = { sock, text: '' };
      sock.on('error', () => {});
      sock.on('connect', () => sock.write(`GET ${HUB}?topic=deep HTTP/1.1\r\nHost: t\r\nLast-Event-ID: ${i % 2 ? 'earliest' : `d-${i * 50}`}\r\n\r\n`));
      sock.on('data', (d) => { s.text += d.toString('latin1'); });
      sock.pause(); // never reads: the kernel buffers fill, then the broker's queue
      subs.push(s);
    }
    await sleep(2000);
    const grown = (await b.metric('ssebroker_heap_allocated_bytes')) - before;
    t.diagnostic(`heap +${(grown / 1048576).toFixed(2)} MiB for 200 stalled replays of up to 20,000 events from the files`);
    assert.ok(grown < 200 * 160 * 1024, `heap grew by ${(grown / 1048576).toFixed(1)} MiB for 200 stalled deep replays`);
    assert.ok(await b.metric('ssebroker_store_replay_reads_total') >= 200, 'every stream read from the files');
    // Resumed, one asking for everything gets all 20,000 once, batch after batch (the 8 of a
    // batch were published concurrently, so their order is the log's); one resuming after d-100
    // gets exactly what follows d-100 in that order.
    const drain = async (s, want) => {
      s.sock.resume();
      const deadline = Date.now() + 60000;
      const count = () => (s.text.match(/^id: d-/gm) || []).length;
      while (count() < want || !s.text.endsWith('\n\n')) {
        assert.ok(Date.now() < deadline, `replay incomplete: ${s.text.length} bytes`);
        await sleep(50);
      }
      return [...s.text.matchAll(/^id: d-(\d+)$/gm)].map((m) => Number(m[1]));
    };
    const all = await drain(subs[1], 20000);
    assert.equal(all.length, 20000);
    assert.deepEqual([...all].sort((x, y) => x - y), Array.from({ length: 20000 }, (_, i) => i));
    assert.ok(all.every((v, i) => i === 0 || Math.floor(v / 8) >= Math.floor(all[i - 1] / 8)), 'batches out of order');
    const after = all.slice(all.indexOf(100) + 1);
    assert.deepEqual(await drain(subs[2], after.length), after);
    for (const x of subs) x.sock.destroy();
  } finally {
    await b.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a replay from the files that retention overtakes is cut with a retry hint, never left with a gap', { timeout: 120000 }, async () => {
  const dir = tmpdir();
  const b = await new Broker(['--history-dir', dir, '--history-size', '3000', '--history-memory', '50',
    '--history-segment-bytes', '256KiB', '--fsync', 'never', '--max-queued-bytes', '64MiB']).start();
  try {
    const data = 'z'.repeat(16000); // 48 MB retained: far more than the socket buffers hold
    const publishMany = async (from, n) => {
      const pub = keepAlivePublisher(b.port, 1);
      for (let i = from; i < from + n; i++) await pub.publish(`topic=d&id=r-${i}&data=${data}`); // in order
      pub.close();
    };
    await publishMany(0, 3000);
    // A subscriber asks for everything and stalls after its first bytes.
    const sock = net.connect(b.port, '127.0.0.1');
    let text = '';
    sock.on('data', (d) => { text += d.toString('latin1'); });
    let closed = false;
    sock.on('close', () => { closed = true; });
    sock.on('error', () => {});
    sock.on('connect', () => sock.write(`GET ${HUB}?topic=d HTTP/1.1\r\nHost: t\r\nLast-Event-ID: earliest\r\n\r\n`));
    sock.pause(); // reads nothing: the replay stalls once the socket buffers are full
    await sleep(500);
    // Retention moves far past where its cursor is.
    await publishMany(3000, 6000);
    assert.ok(await b.metric('ssebroker_store_records_total') === 9000);
    sock.resume();
    const until = Date.now() + 30000;
    while (!closed && Date.now() < until) await sleep(50);
    assert.ok(closed, 'the stream was cut');
    assert.match(text, /retry: \d+\n\n$/, 'with a retry hint last');
    const ids = [...text.matchAll(/^id: r-(\d+)$/gm)].map((m) => Number(m[1]));
    assert.ok(ids.length > 0 && ids.length < 9000, `${ids.length} received`);
    assert.deepEqual(ids, Array.from({ length: ids.length }, (_, i) => i), 'a gap-free prefix');
    assert.ok(await b.metric('ssebroker_replay_cut_total') >= 1);
    // Resuming from its last id, which retention removed, is told so (Last-Event-ID: earliest).
    const r = await resumeIds(b.port, `r-${ids.at(-1)}`);
    assert.match(r.head, /\r\nLast-Event-ID: earliest/);
    assert.deepEqual(r.ids, [], 'nothing claimed to follow on from it');
  } finally {
    await b.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
