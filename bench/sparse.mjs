// Sparse fan-outs, the way most deployments run: occasional publishes to many open streams,
// while idle keep-alive connections (a load balancer's health checks, a client pool) stay open.
// What a server spends per delivery: system calls (perf stat tracepoints on its threads, by
// kind) and CPU (its threads' run time, /proc/PID/task/*/schedstat, nanoseconds).
//
//   node bench/sparse.mjs --port P --pid PID [--target mercure|node] [--label L] [--name N]
//        [--streams 500] [--updates 200] [--interval-ms 5] [--publish fresh|keepalive]
//        [--idle 0] [--alternate 0] [--jwt-key K]
//
// --publish fresh: every publish on a new connection (Connection: close); keepalive: all on one.
// --idle N: N keep-alive connections that asked GET /healthz once and then say nothing, open
// while publishing. --alternate K: on the same server, K phases without the idle connections and
// K with them, in turn (none, idle, none, idle...), updates/2K publishes each, so that both
// figures see the same server and the same moments of a noisy machine; two JSON lines then, the
// label and the label + "-idle".
// Prints a JSON line (the fields of bench/loadgen's where they mean the same: label, server,
// subs, updates, deliveries, lost, server_cpu_publish_s, ok) plus syscalls (by kind, over the
// publishing and delivering), syscalls_per_delivery and cpu_us_per_delivery. Exit status 0 when
// every stream got every update once and in order, 1 otherwise.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const port = Number(args.port);
const pid = Number(args.pid);
const target = args.target ?? 'mercure';
const streams = Number(args.streams ?? 500);
const updates = Number(args.updates ?? 200);
const intervalMs = Number(args['interval-ms'] ?? 5);
const mode = args.publish ?? 'fresh';
const idle = Number(args.idle ?? 0);
const alternate = Number(args.alternate ?? 0);
const key = args['jwt-key'] ?? '!ChangeThisMercureHubJWTSecretKey!';
const label = args.label ?? `sparse-${mode}${idle && !alternate ? '-idle' : ''}`;
const host = '127.0.0.1';
const topic = 'https://example.com/sparse';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
if (!port || !pid) {
  console.error('usage: node bench/sparse.mjs --port P --pid PID [...] (see the header)');
  process.exit(2);
}

const b64 = (x) => Buffer.from(x).toString('base64url');
const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
const claims = b64(JSON.stringify({ mercure: { publish: ['*'] } }));
const sig = crypto.createHmac('sha256', key).update(`${head}.${claims}`).digest('base64url');
const auth = target === 'mercure' ? `Authorization: Bearer ${head}.${claims}.${sig}\r\n` : '';

function connect() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => resolve(s));
    s.setNoDelay(true);
    s.once('error', reject);
  });
}

// A stream: counts the events it receives (their data is the update number) and checks order.
async function openStream() {
  const s = await connect();
  const st = { got: 0, bad: 0, next: 0, buf: '', headers: false };
  await new Promise((resolve, reject) => {
    s.on('data', (d) => {
      st.buf += d.toString('latin1');
      if (!st.headers) {
        const i = st.buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        if (!st.buf.startsWith('HTTP/1.1 200')) return reject(new Error(st.buf.split('\r\n')[0]));
        st.headers = true;
        st.buf = st.buf.slice(i + 4);
        resolve();
      }
      // Chunked or not: data lines are found wherever they are.
      let j;
      while ((j = st.buf.indexOf('\n')) >= 0) {
        const line = st.buf.slice(0, j).replace(/\r$/, '');
        st.buf = st.buf.slice(j + 1);
        const m = /^data: sparse\.(\d+)$/.exec(line);
        if (!m) continue;
        if (Number(m[1]) !== st.next) st.bad++;
        st.next = Number(m[1]) + 1;
        st.got++;
      }
    });
    s.on('error', reject);
    s.write(
      `GET /.well-known/mercure?topic=${encodeURIComponent(topic)} HTTP/1.1\r\nHost: ${host}\r\n` +
        'Accept: text/event-stream\r\n\r\n',
    );
  });
  st.sock = s;
  return st;
}

// Sends one request on s and resolves with the status line once the whole answer is in.
function request(s, text) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d) => {
      buf += d.toString('latin1');
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      const m = /content-length: *(\d+)/i.exec(buf.slice(0, i));
      if (m && buf.length < i + 4 + Number(m[1])) return;
      s.off('data', onData);
      resolve(buf.split('\r\n')[0]);
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(text);
  });
}

function publishText(n, close) {
  const body = `topic=${encodeURIComponent(topic)}&data=sparse.${n}`;
  return (
    `POST /.well-known/mercure HTTP/1.1\r\nHost: ${host}\r\n${auth}` +
    `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n` +
    `${close ? 'Connection: close\r\n' : ''}\r\n${body}`
  );
}

function cpuNs() {
  let ns = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`))
    ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
  return ns;
}

const kinds = ['io_uring_enter', 'epoll_wait', 'epoll_pwait', 'read', 'write', 'sendmsg', 'sendto',
  'recvfrom', 'writev', 'accept4', 'close', 'epoll_ctl', 'futex', 'setsockopt'];

const subs = [];
for (let i = 0; i < streams; i++) subs.push(await openStream());
const keep = mode === 'keepalive' ? await connect() : null;
const delivered = () => subs.reduce((a, st) => a + st.got, 0);

// One phase: `count` publishes from number `first` on, with `nIdle` idle connections open.
async function phase(nIdle, first, count) {
  const idles = [];
  for (let i = 0; i < nIdle; i++) {
    const s = await connect();
    await request(s, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    idles.push(s);
  }
  await sleep(300);
  const perfOut = `/tmp/sparse-perf-${process.pid}.csv`;
  const perf = spawn('perf', ['stat', '-x,', '-o', perfOut, '-p', String(pid),
    '-e', kinds.map((k) => `syscalls:sys_enter_${k}`).join(',')], { stdio: 'ignore' });
  await sleep(1500); // perf attaches to every thread before the first publish
  const got0 = delivered();
  const cpu0 = cpuNs();
  let failed = 0;
  for (let n = first; n < first + count; n++) {
    const s = keep ?? (await connect());
    const status = await request(s, publishText(n, !keep));
    if (!/^HTTP\/1\.1 20\d/.test(status)) failed++;
    if (!keep) s.destroy();
    if (intervalMs) await sleep(intervalMs);
  }
  const until = Date.now() + 10000;
  while (Date.now() < until && subs.some((st) => st.got < first + count)) await sleep(5);
  const cpu1 = cpuNs();
  perf.kill('SIGINT');
  await new Promise((r) => perf.once('exit', r));
  const syscalls = {};
  for (const line of fs.readFileSync(perfOut, 'utf8').split('\n')) {
    const f = line.split(',');
    if (f.length < 3 || !f[2].startsWith('syscalls:')) continue;
    const v = Number(f[0]);
    if (v > 0) syscalls[f[2].replace('syscalls:sys_enter_', '')] = v;
  }
  fs.rmSync(perfOut, { force: true });
  for (const s of idles) s.destroy();
  return { count, failed, deliveries: delivered() - got0, cpuNs: cpu1 - cpu0, syscalls };
}

function report(lbl, nIdle, phases) {
  const sum = (f) => phases.reduce((a, p) => a + f(p), 0);
  const deliveries = sum((p) => p.deliveries);
  const count = sum((p) => p.count);
  const failed = sum((p) => p.failed);
  const cpu = sum((p) => p.cpuNs);
  const syscalls = {};
  for (const p of phases) for (const [k, v] of Object.entries(p.syscalls)) syscalls[k] = (syscalls[k] ?? 0) + v;
  const total = Object.values(syscalls).reduce((a, v) => a + v, 0);
  const expected = streams * (count - failed);
  const res = {
    label: lbl, server: args.name ?? target, subs: streams, updates: count, idle_conns: nIdle, publish: mode,
    phases: phases.length, deliveries, lost: Math.max(0, expected - deliveries), reordered,
    pub_failed: failed, server_cpu_publish_s: cpu / 1e9,
    cpu_us_per_delivery: deliveries ? cpu / 1e3 / deliveries : null,
    syscalls, syscalls_per_delivery: deliveries ? total / deliveries : null,
    load: Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
  };
  res.ok = failed === 0 && res.lost === 0 && reordered === 0 && deliveries === expected;
  console.log(JSON.stringify(res));
  return res.ok;
}

let reordered = 0;
let ok;
if (alternate > 0) {
  const per = Math.max(1, Math.floor(updates / (2 * alternate)));
  const none = [], with_ = [];
  let n = 0;
  for (let k = 0; k < alternate; k++) {
    none.push(await phase(0, n, per));
    n += per;
    with_.push(await phase(idle, n, per));
    n += per;
  }
  reordered = subs.reduce((a, st) => a + st.bad, 0);
  ok = report(label, 0, none) & report(`${label}-idle`, idle, with_);
} else {
  const p = await phase(idle, 0, updates);
  reordered = subs.reduce((a, st) => a + st.bad, 0);
  ok = report(label, idle, [p]);
}
for (const st of subs) st.sock.destroy();
keep?.destroy();
process.exit(ok ? 0 : 1);
