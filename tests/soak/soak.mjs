#!/usr/bin/env node
// Bounded soak: thousands of subscribers connect, read, disconnect, stall (and get cut as slow
// consumers), abort, and resume with Last-Event-ID, while publishers run at a high rate for N
// seconds. At the end:
//   - a reference subscriber ("witness", selector *) holds the broker's global order and has every
//     acknowledged update exactly once, and each publisher's updates in the order it sent them;
//   - every subscriber has every acknowledged update matching its selectors exactly once, in the
//     global order, from its first Last-Event-ID on (resumes that fell out of history are counted
//     and checked for order and duplicates only);
//   - once every client is gone the broker's RSS (/proc/PID/status) returns near the baseline
//     taken after warm-up (history already full, so retained history is part of the baseline);
//   - SIGTERM: exit 0 and no sanitizer or leak report (run with the ASan build for the leak check).
//
// scripts/test.sh runs short soaks (release, ASan, TSan); scripts/soak.sh longer ones. Usage:
//   node tests/soak/soak.mjs [--seconds 60] [--subscribers 2000] [--rate 2000] [--publishers 4]
//   SSEBROKER_BIN=build-asan/ssebroker node tests/soak/soak.mjs --seconds 30
import net from 'node:net';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { Broker, PUBLISH_ALL, HUB, sleep } from '../integration/lib/broker.mjs';

const { values: opt } = parseArgs({
  options: {
    seconds: { type: 'string', default: process.env.SOAK_SECONDS || '60' },
    subscribers: { type: 'string', default: process.env.SOAK_SUBSCRIBERS || '2000' },
    rate: { type: 'string', default: process.env.SOAK_RATE || '2000' },
    publishers: { type: 'string', default: process.env.SOAK_PUBLISHERS || '4' },
    topics: { type: 'string', default: '100' },
    history: { type: 'string', default: '60000' },
    'rss-slack-mb': { type: 'string', default: process.env.SOAK_RSS_SLACK_MB || '' },
    rounds: { type: 'string', default: process.env.SOAK_ROUNDS || '1' },
    verbose: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(opt.seconds);
const NSUB = Number(opt.subscribers);
const RATE = Number(opt.rate);
const NPUB = Math.min(Number(opt.publishers), 16);
const NTOPIC = Number(opt.topics);
const HISTORY = Number(opt.history);
const ROUNDS = Math.max(1, Number(opt.rounds));
const TOPIC = (k) => `https://soak.example/t/${k}`;
const TEMPLATE = 'https://soak.example/t/{id}';
const PAD = 'x'.repeat(120);
// One update in 50 is large: heavy subscribers that stall then overflow their budget and get cut.
const BIG = 'y'.repeat(16000);
const padFor = (n) => (n % 50 === 0 ? BIG : PAD);

const log = (...a) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}]`, ...a);
const rnd = (n) => Math.floor(Math.random() * n);
const failures = [];
const fail = (msg) => { failures.push(msg); if (failures.length <= 20) console.error(`FAIL: ${msg}`); };

// Update ids are "p<publisher>-<n>"; numerically n * 16 + publisher.
const idNum = (s) => {
  const m = /^p(\d+)-(\d+)$/.exec(s);
  return m ? Number(m[2]) * 16 + Number(m[1]) : -1;
};
const idStr = (num) => `p${num % 16}-${Math.floor(num / 16)}`;

// ---- the broker ------------------------------------------------------------------------------

const asan = /asan/.test(process.env.SSEBROKER_BIN || '');
// The RSS checks below need ASan's quarantine of freed memory bounded (its default, 256 MiB,
// fills with every short-lived allocation and reads as growth): appended to whatever options the
// caller set (scripts/test.sh sets its own; the last setting wins).
const broker = new Broker([
  '--workers', '2',
  '--history-size', String(HISTORY),
  '--history-bytes', '256MiB',
  '--max-queued-bytes', '131072',
  '--stream-lifetime', '20s',
  '--heartbeat', '5s',
  '--log-level', 'warn',
], asan ? { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || 'detect_leaks=1'}:quarantine_size_mb=16` } : {});

function rssKiB() {
  const s = fs.readFileSync(`/proc/${broker.proc.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)[1]);
}

async function metrics() {
  const text = await (await fetch(`${broker.base}/metrics`, { headers: { Connection: 'close' } })).text();
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const name = line.split(/[ {]/)[0];
    out[name] = (out[name] || 0) + Number(line.split(' ').pop());
  }
  return out;
}

// ---- publishers: keep-alive connections, pipelined, rate limited ----------------------------

const topicsOf = new Map(); // update num -> [topic indexes]
const acked = []; // update nums, as acknowledged
let publishing = true;
const pubCounters = new Array(16).fill(0); // ids stay unique across rounds
let rejected = 0;

class Publisher {
  constructor(index, port) {
    this.index = index;
    this.port = port;
    this.inflight = [];
    this.retry = [];
    this.buf = Buffer.alloc(0);
    this.sent = 0;
    this.connect();
  }

  connect() {
    this.sock = net.connect(this.port, '127.0.0.1');
    this.sock.setNoDelay(true);
    this.ready = new Promise((r) => this.sock.once('connect', r));
    this.sock.on('data', (d) => this.onData(d));
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
      // Unanswered requests may or may not have been applied: they are not acknowledged, and not
      // retried (the ids are unique, a retry could duplicate). Reconnect while running.
      this.inflight = [];
      this.buf = Buffer.alloc(0);
      if (publishing || this.retry.length) setTimeout(() => this.connect(), 50);
    });
  }

  send(num) {
    const k = topicsOf.get(num);
    const id = idStr(num);
    const body = `topic=${encodeURIComponent(TOPIC(k[0]))}` +
      (k.length > 1 ? `&topic=${encodeURIComponent(TOPIC(k[1]))}` : '') +
      `&id=${id}&data=${id}%7C${k.join(',')}%7C${padFor(num)}`;
    this.sock.write(`POST ${HUB} HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer ${PUBLISH_ALL}\r\n` +
      `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    this.inflight.push(num);
  }

  next() {
    if (this.retry.length) return this.retry.shift();
    const num = pubCounters[this.index]++ * 16 + this.index;
    const k = [rnd(NTOPIC)];
    if (rnd(10) === 0) k.push((k[0] + 1 + rnd(NTOPIC - 1)) % NTOPIC); // an alternate topic
    topicsOf.set(num, k);
    return num;
  }

  pump(budget) {
    let used = 0;
    while (used < budget && this.inflight.length < 32 && this.sock.readyState === 'open') {
      this.send(this.next());
      used++;
    }
    return used;
  }

  onData(d) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString('latin1');
      const len = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (this.buf.length < end + 4 + len) return;
      const body = this.buf.subarray(end + 4, end + 4 + len).toString('latin1');
      this.buf = this.buf.subarray(end + 4 + len);
      const status = Number(head.slice(9, 12));
      const num = this.inflight.shift();
      if (status === 200) {
        if (body !== idStr(num)) fail(`publisher ${this.index}: acked ${body}, expected ${idStr(num)}`);
        acked.push(num);
      } else if (status === 503) {
        rejected++;
        this.retry.push(num);
      } else {
        fail(`publisher ${this.index}: status ${status} ${body}`);
      }
    }
  }
}

async function runPublishers(port, seconds, rate) {
  const pubs = Array.from({ length: NPUB }, (_, i) => new Publisher(i, port));
  await Promise.all(pubs.map((p) => p.ready));
  const t0 = Date.now();
  let allowance = 0;
  let last = t0;
  let turn = 0;
  while (Date.now() - t0 < seconds * 1000) {
    const now = Date.now();
    allowance = Math.min(allowance + ((now - last) / 1000) * rate, Math.max(rate / 10, 1));
    last = now;
    // Hand the budget out one request at a time, round robin, to publishers with room.
    let idle = 0;
    while (allowance >= 1 && idle < pubs.length) {
      const used = pubs[turn++ % pubs.length].pump(1);
      allowance -= used;
      idle = used ? 0 : idle + 1;
    }
    await sleep(5);
  }
  publishing = false;
  // Let the retries and in-flight requests finish.
  const deadline = Date.now() + 30000;
  while (pubs.some((p) => p.inflight.length || p.retry.length) && Date.now() < deadline) {
    for (const p of pubs) if (p.retry.length) p.pump(32);
    await sleep(20);
  }
  for (const p of pubs) {
    if (p.inflight.length || p.retry.length) fail(`publisher ${p.index}: ${p.inflight.length} unanswered, ${p.retry.length} not retried`);
    p.sock.end();
  }
}

// ---- subscribers -------------------------------------------------------------------------------

let churn = true;
const stats = { connects: 0, cuts: 0, stalls: 0, aborts: 0, leaves: 0, gaps: 0, non200: 0, lifetimes: 0 };

class Subscriber {
  constructor(index, port, selectors, template) {
    this.index = index;
    this.port = port;
    this.selectors = selectors; // topic indexes (exact) or null with template
    this.template = template;
    this.received = []; // update nums, in arrival order
    this.startId = null; // the Last-Event-ID of the very first connection
    this.lastId = null;
    this.gapAt = []; // indexes into received where a resume fell out of history
    this.conn = null;
    this.timer = null;
    this.churns = true;
  }

  matches(num) {
    if (this.template) return true;
    for (const k of topicsOf.get(num)) if (this.selectors.includes(k)) return true;
    return false;
  }

  query() {
    const sels = this.template ? [TEMPLATE] : this.selectors.map(TOPIC);
    return '?' + sels.map((s) => `topic=${encodeURIComponent(s)}`).join('&');
  }

  connect() {
    if (this.stopped) return; // a reconnect timer that fired after stop()
    const resumeFrom = this.lastId ?? this.startId;
    const sock = net.connect(this.port, '127.0.0.1');
    const c = { sock, buf: '', head: null, closedByUs: false };
    this.conn = c;
    stats.connects++;
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`GET ${HUB}${this.query()} HTTP/1.1\r\nHost: soak\r\nLast-Event-ID: ${resumeFrom}\r\n\r\n`));
    sock.on('data', (d) => this.onData(c, d, resumeFrom));
    sock.on('error', () => {});
    sock.on('close', () => this.onClose(c));
    if (churn && this.churns) this.schedule(c);
  }

  onData(c, d, resumeFrom) {
    c.buf += d;
    if (c.head === null) {
      const end = c.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      c.head = c.buf.slice(0, end);
      c.buf = c.buf.slice(end + 4);
      if (!c.head.startsWith('HTTP/1.1 200 ')) {
        stats.non200++;
        fail(`subscriber ${this.index}: ${c.head.split('\r\n')[0]}`);
        return;
      }
      const answered = /\r\nLast-Event-ID: ([^\r\n]*)/i.exec(c.head)?.[1];
      if (answered !== resumeFrom) {
        // The id left history: the broker says "earliest" and replays nothing.
        stats.gaps++;
        if (opt.verbose && stats.gaps < 5) log(`gap: asked ${resumeFrom}, answered ${answered}`);
        this.gapAt.push(this.received.length);
      }
    }
    let start = 0;
    for (;;) {
      const end = c.buf.indexOf('\n\n', start);
      if (end < 0) break;
      // Heartbeat comments (":\n") have no blank line of their own: strip them off the block.
      const block = c.buf.slice(start, end).replace(/^(:[^\n]*(\n|$))+/, '');
      start = end + 2;
      if (!block) continue;
      if (block.startsWith('retry:')) { c.sawRetry = true; continue; }
      const m = /^id: (p\d+-\d+)\n/.exec(block);
      if (!m) { fail(`subscriber ${this.index}: malformed event ${JSON.stringify(block.slice(0, 80))}`); continue; }
      if (!block.includes(`\ndata: ${m[1]}|`)) fail(`subscriber ${this.index}: data does not belong to ${m[1]}`);
      this.received.push(idNum(m[1]));
      this.lastId = m[1];
    }
    c.buf = c.buf.slice(start);
  }

  onClose(c) {
    if (c !== this.conn) return;
    clearTimeout(this.timer);
    this.conn = null;
    if (!c.closedByUs) {
      // The broker closed: a slow-consumer cut, the stream lifetime, or the end.
      if (c.sawRetry) stats.lifetimes++;
      else stats.cuts++;
    }
    if (this.stopped) return;
    setTimeout(() => this.connect(), churn ? rnd(300) : 0);
  }

  schedule(c) {
    this.timer = setTimeout(() => {
      if (!churn || c !== this.conn) return;
      const what = rnd(10);
      if (what < 4) {
        // Leave cleanly, come back later.
        stats.leaves++;
        c.closedByUs = true;
        c.sock.end();
        c.sock.destroy();
      } else if (what < 7) {
        // Stall: stop reading for a while (heavy subscribers get cut).
        stats.stalls++;
        c.sock.pause();
        this.timer = setTimeout(() => {
          if (c !== this.conn) return;
          c.sock.resume();
          this.schedule(c);
        }, this.template ? 4000 + rnd(10000) : 1000 + rnd(3000));
      } else if (what < 9) {
        // Abort mid-stream.
        stats.aborts++;
        c.closedByUs = true;
        c.sock.resetAndDestroy();
      } else {
        this.schedule(c); // keep reading
      }
    }, 1000 + rnd(6000));
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.conn) { this.conn.closedByUs = true; this.conn.sock.destroy(); }
  }
}

// ---- the run ----------------------------------------------------------------------------------

async function warmUp(port) {
  // Fill history to its cap so that its memory is part of the baseline.
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  let answered = 0;
  let buf = '';
  let lastId = null;
  sock.setEncoding('latin1');
  sock.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
      const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, i))[1]);
      if (buf.length < i + 4 + len) break;
      if (!buf.startsWith('HTTP/1.1 200 ')) throw new Error(`warm-up publish: ${buf.slice(0, 200)}`);
      lastId = buf.slice(i + 4, i + 4 + len);
      buf = buf.slice(i + 4 + len);
      answered++;
    }
  });
  // The same sizes as the soak's updates, so that retained history weighs the same.
  const req = (n) => {
    const body = `topic=soak%2Fwarmup&data=warm%7C${padFor(n)}`;
    return `POST ${HUB} HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer ${PUBLISH_ALL}\r\n` +
      `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  };
  const total = HISTORY + 1000;
  for (let sent = 0; sent < total;) {
    while (sent - answered < 64 && sent < total) { sock.write(req(sent)); sent++; }
    await sleep(1);
  }
  while (answered < total) await sleep(10);
  sock.end();
  return lastId;
}

// The witness: reads everything (selector *), fast, from the anchor on; it resumes too if
// anything cuts it, and must never fall out of history.
function makeWitness(port, anchor) {
  const witness = new Subscriber(-1, port, null, false);
  witness.query = () => '?topic=*';
  witness.startId = anchor;
  witness.churns = false;
  witness.onData = function (c, d, resumeFrom) {
    c.buf += d;
    if (c.head === null) {
      const end = c.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      c.head = c.buf.slice(0, end);
      c.buf = c.buf.slice(end + 4);
      if (!c.head.includes(`\r\nLast-Event-ID: ${resumeFrom}\r\n`)) fail(`the witness fell out of history (${resumeFrom})`);
    }
    let start = 0;
    for (;;) {
      const end = c.buf.indexOf('\n\n', start);
      if (end < 0) break;
      const block = c.buf.slice(start, end).replace(/^(:[^\n]*(\n|$))+/, '');
      start = end + 2;
      const m = /^id: (p\d+-\d+)\n/.exec(block);
      if (block.startsWith('retry:')) c.sawRetry = true;
      else if (m) { this.received.push(idNum(m[1])); this.lastId = m[1]; }
    }
    c.buf = c.buf.slice(start);
  };
  return witness;
}

async function round(port, r, anchor, seconds) {
  acked.length = 0;
  rejected = 0;
  publishing = true;
  churn = true;
  for (const k of Object.keys(stats)) stats[k] = 0;

  const witness = makeWitness(port, anchor);
  witness.connect();
  await new Promise((res) => setTimeout(res, 200));

  // Subscribers: most on 1-3 exact topics, a few on the template that matches every update.
  const subs = [];
  for (let i = 0; i < NSUB; i++) {
    const template = i % 100 === 0;
    const sels = template ? null : [...new Set(Array.from({ length: 1 + rnd(3) }, () => rnd(NTOPIC)))];
    const s = new Subscriber(i, port, sels, template);
    s.startId = anchor;
    subs.push(s);
  }
  for (let i = 0; i < subs.length; i++) {
    subs[i].connect();
    if (i % 100 === 99) await sleep(20);
  }
  log(`round ${r}: subscribers connected; publishing from ${anchor}`);
  const progress = setInterval(async () => {
    try {
      const m = await metrics();
      log(`acked ${acked.length} (503: ${rejected}), streams ${m.ssebroker_streams}, connections ${m.ssebroker_connections}, ` +
        `slow cuts ${m.ssebroker_slow_consumers_total}, RSS ${(rssKiB() / 1024).toFixed(1)} MiB, client ${JSON.stringify(stats)}`);
    } catch (e) { log(`metrics: ${e.message}`); }
  }, 10000);
  await runPublishers(port, seconds, RATE);
  churn = false;
  clearInterval(progress);
  log(`round ${r}: ${acked.length} acknowledged updates (${rejected} answered 503 and retried); settling`);

  // Everybody reconnects (if away) and catches up; the witness must hold every acked update.
  for (const s of subs) if (s.conn) clearTimeout(s.timer);
  for (const s of [witness, ...subs]) if (s.conn && s.conn.sock.isPaused()) s.conn.sock.resume();
  const ackedSet = new Set(acked);
  let deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    const seen = new Set(witness.received);
    if ([...ackedSet].every((n) => seen.has(n))) break;
    await sleep(200);
  }

  // ---- checks ------------------------------------------------------------------------------
  const order = witness.received;
  const pos = new Map();
  order.forEach((n, i) => {
    if (pos.has(n)) fail(`witness: ${idStr(n)} twice`);
    pos.set(n, i);
  });
  for (const n of acked) if (!pos.has(n)) fail(`witness: acknowledged ${idStr(n)} never delivered`);
  const lastPerPub = new Array(16).fill(-1);
  for (const n of order) {
    const p = n % 16, k = Math.floor(n / 16);
    if (k <= lastPerPub[p]) fail(`witness: publisher ${p} out of order at ${idStr(n)}`);
    lastPerPub[p] = k;
  }
  log(`witness: ${order.length} updates in the global order`);

  // Each subscriber's expected list: the updates of its topics, in the global order.
  const byTopic = Array.from({ length: NTOPIC }, () => []);
  order.forEach((n, i) => { for (const k of topicsOf.get(n) || []) byTopic[k].push(i); });
  const expected = new Map();
  for (const s of subs) {
    let positions;
    if (s.template) positions = order.map((_, i) => i);
    else positions = [...new Set(s.selectors.flatMap((k) => byTopic[k]))].sort((a, b) => a - b);
    expected.set(s, positions.map((i) => order[i]));
  }
  // Wait until each has caught up with its expected list, then compare.
  deadline = Date.now() + 60000;
  let pending = subs;
  while (pending.length && Date.now() < deadline) {
    pending = pending.filter((s) => {
      const exp = expected.get(s);
      return exp.length && s.received[s.received.length - 1] !== exp[exp.length - 1] && !s.gapAt.length;
    });
    if (pending.length) await sleep(500);
  }
  let checked = 0, gapped = 0, events = 0;
  for (const s of subs) {
    const exp = expected.get(s);
    events += s.received.length;
    if (!s.gapAt.length) {
      checked++;
      if (s.received.length !== exp.length || s.received.some((n, i) => n !== exp[i])) {
        let i = 0;
        while (i < exp.length && s.received[i] === exp[i]) i++;
        fail(`subscriber ${s.index}: ${s.received.length} received, ${exp.length} expected; first difference at ${i}: ` +
          `got ${s.received[i] === undefined ? 'nothing' : idStr(s.received[i])}, expected ${exp[i] === undefined ? 'nothing' : idStr(exp[i])}`);
      }
    } else {
      gapped++;
      // Order and no duplicate, whatever history could still give.
      let prev = -1;
      for (const n of s.received) {
        const p = pos.get(n);
        if (p === undefined || p <= prev) { fail(`subscriber ${s.index}: ${idStr(n)} duplicated or out of order`); break; }
        prev = p;
      }
    }
  }
  log(`round ${r}: ${checked} subscribers checked exactly, ${gapped} resumed past history (order only); ` +
    `${events} events received; client ${JSON.stringify(stats)}`);

  witness.stop();
  for (const s of subs) s.stop();
  for (const n of order) topicsOf.delete(n);
  return order.length ? idStr(order[order.length - 1]) : anchor;
}

async function main() {
  await broker.start();
  const port = broker.port;
  log(`broker ${broker.proc.pid} on ${port}; ${NSUB} subscribers, ${RATE}/s for ${SECONDS}s in ${ROUNDS} round(s), history ${HISTORY}`);
  let anchor = await warmUp(port);
  await sleep(2000);
  const baseline = rssKiB();
  const slackKiB = (opt['rss-slack-mb'] ? Number(opt['rss-slack-mb']) : asan ? 96 : 32) * 1024;
  // With jemalloc the broker reports its live heap: minus history, what the connections hold.
  const heapOf = (m) => (m.ssebroker_heap_allocated_bytes === undefined ? null
    : m.ssebroker_heap_allocated_bytes - m.ssebroker_history_bytes);
  const baseHeap = heapOf(await metrics());
  const mib = (b) => (b / 1048576).toFixed(1);
  log(`baseline RSS ${(baseline / 1024).toFixed(1)} MiB (history full)` +
    (baseHeap === null ? '' : `, heap beside history ${mib(baseHeap)} MiB`));

  let firstRss = null;
  for (let r = 1; r <= ROUNDS; r++) {
    anchor = await round(port, r, anchor, SECONDS / ROUNDS);
    // Memory back near the baseline once everyone is gone.
    let m;
    let deadline = Date.now() + 20000;
    for (;;) {
      await sleep(500);
      m = await metrics();
      if (m.ssebroker_streams === 0 && m.ssebroker_connections <= 1) break;
      if (Date.now() > deadline) { fail(`connections left: ${m.ssebroker_connections}, streams ${m.ssebroker_streams}`); break; }
    }
    let rss;
    deadline = Date.now() + 30000; // allocators give pages back lazily
    for (;;) {
      rss = rssKiB();
      if (rss <= baseline + slackKiB || Date.now() > deadline) break;
      await sleep(1000);
    }
    log(`round ${r}: RSS ${(rss / 1024).toFixed(1)} MiB with no client, baseline ${(baseline / 1024).toFixed(1)} MiB ` +
      `(slack ${slackKiB / 1024} MiB); history ${m.ssebroker_history_events} events / ` +
      `${(m.ssebroker_history_bytes / 1048576).toFixed(1)} MiB, slow-consumer cuts so far ${m.ssebroker_slow_consumers_total}`);
    if (rss > baseline + slackKiB) fail(`round ${r}: RSS did not return near baseline: ${rss} KiB vs ${baseline} KiB`);
    const heap = heapOf(m);
    if (heap !== null) {
      log(`round ${r}: heap beside history ${mib(heap)} MiB (baseline ${mib(baseHeap)} MiB)`);
      // Live memory is exact: once every client is gone only small caches may remain.
      if (heap > baseHeap + 4 * 1048576) fail(`round ${r}: heap did not return to baseline: ${heap} vs ${baseHeap} bytes`);
    }
    // Later rounds must not keep growing much: what the first round left is allocator high water,
    // and history churn fragments it for a few rounds more (measured: +10 MiB over 3 rounds, then
    // flat, while the live heap above stays at its baseline).
    if (firstRss === null) firstRss = rss;
    else if (rss > firstRss + slackKiB / 2) fail(`round ${r}: RSS keeps growing: ${rss} KiB after round 1's ${firstRss} KiB`);
  }

  try {
    await broker.stop();
    log('broker exited 0 at SIGTERM, no sanitizer report');
  } catch (e) {
    fail(e.message.slice(0, 4000));
  }
  if (failures.length) {
    console.error(`soak: FAILED (${failures.length} problems)`);
    process.exit(1);
  }
  log('soak: ok');
  process.exit(0);
}

main().catch(async (e) => {
  console.error(e);
  try { broker.proc?.kill('SIGKILL'); } catch { /* gone */ }
  process.exit(1);
});
