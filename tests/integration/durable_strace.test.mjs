// No disk access on a worker thread, ever (issue 18): the durable scenarios (publish, restart,
// resume from ids older than the in-memory tier, so that finding them and replaying them comes
// from the files) run under strace -f, and no thread named sseb-worker-* may make a file system
// call: no open, stat, pread, fsync..., and no read, write or mmap on a descriptor of a file.
// The store's threads (sseb-log-writer, sseb-log-reader) do all of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { BIN, Broker, HUB, freePort, keepAlivePublisher, rawRequest, sleep } from './lib/broker.mjs';

const hasStrace = spawnSync('strace', ['-V']).status === 0;

// System calls that name or act on a file (strace's %file and the descriptor calls that only
// make sense on one), by name.
const FILE_CALLS = /^(open|openat|openat2|creat|stat|lstat|fstat|newfstatat|statx|statfs|fstatfs|access|faccessat2?|readlinkat?|unlinkat?|renameat2?|mkdirat?|rmdir|truncate|ftruncate|pread64|pwrite64|preadv2?|pwritev2?|fsync|fdatasync|sync_file_range|getdents64|lseek|flock|fallocate|sendfile|copy_file_range|inotify_add_watch|chdir|fchdir)$/;

// Starts the broker under strace -f; -y prints each descriptor's path (a socket shows as
// socket:[...], an eventfd as anon_inode:[eventfd], a file as its path).
async function tracedBroker(args, out) {
  const port = await freePort();
  const proc = spawn('strace', ['-f', '-qq', '-y', '-o', out, '-e', 'trace=%file,%desc',
    BIN, '--listen', `127.0.0.1:${port}`, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  process.once('exit', () => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      const r = await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', { timeout: 1000 });
      if (r.startsWith('HTTP/1.1 200')) break;
    } catch { /* not listening yet */ }
    assert.ok(Date.now() < deadline, `broker did not start under strace: ${stderr}`);
    await sleep(100);
  }
  const pid = Number(fs.readFileSync(out, 'utf8').split(' ', 1)[0]); // the first line is its execve
  return {
    port,
    // Thread id -> name, read while it runs.
    threads() {
      const names = new Map();
      for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
        names.set(Number(tid), fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim());
      }
      return names;
    },
    async stop() {
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 20000);
      const r = await exited;
      clearTimeout(timer);
      assert.equal(r.code, 0, `strace/broker exit: ${stderr}`);
    },
  };
}

// The file system calls each named thread made, from strace's output.
function fileCalls(out, names) {
  const found = new Map();
  for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
    const m = /^(\d+) +(?:<\.\.\. )?(\w+)[( ](.*)$/.exec(line);
    if (!m) continue;
    const name = names.get(Number(m[1]));
    if (!name) continue;
    const args = m[3].replace(/"(?:[^"\\]|\\.)*"/g, '""'); // data may hold anything
    if (FILE_CALLS.test(m[2]) || /\d+<\//.test(args)) {
      if (!found.has(name)) found.set(name, []);
      found.get(name).push(line);
    }
  }
  return found;
}

// The ids a subscriber gets, and its response head, until the stream goes quiet.
async function resume(port, { header, query = '' }) {
  const sock = net.connect(port, '127.0.0.1');
  let text = '';
  let last = Date.now();
  sock.on('data', (d) => { text += d.toString('latin1'); last = Date.now(); });
  sock.on('error', () => {});
  sock.on('connect', () => sock.write(`GET ${HUB}?topic=d${query} HTTP/1.1\r\nHost: t\r\n${header ? `Last-Event-ID: ${header}\r\n` : ''}\r\n`));
  const start = Date.now();
  while ((Date.now() - last < 700 || !text) && Date.now() - start < 30000) await sleep(100);
  sock.destroy();
  return { ids: [...text.matchAll(/^id: (.+)$/gm)].map((m) => m[1]), head: text.slice(0, text.indexOf('\r\n\r\n')) };
}

test('no worker thread makes a file system call: publish, restart, deep resumes from the files', { timeout: 180000 }, async (t) => {
  if (!hasStrace) {
    t.skip('strace is not installed (scripts/setup.sh installs it)');
    return;
  }
  // Sanitizer runtimes read /proc and files on any thread: the promise is the release build's.
  const probe = await new Broker([]).start();
  const release = (await fetch(`${probe.base}/metrics`).then((r) => r.text())).includes('ssebroker_heap_allocated_bytes');
  await probe.stop();
  if (!release) {
    t.skip('a sanitizer build (no jemalloc heap gauge)');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sseb-strace-'));
  const args = ['--history-dir', dir, '--history-memory', '50', '--history-segment-bytes', '64KiB',
    '--workers', '2', '--fsync', 'never'];
  const want = (from, to) => Array.from({ length: to - from }, (_, i) => `s${from + i}`);
  try {
    for (const run of [1, 2]) {
      const out = path.join(dir, `strace-${run}.txt`);
      const b = await tracedBroker(args, out);
      try {
        if (run === 1) {
          const pub = keepAlivePublisher(b.port, 1);
          for (let i = 0; i < 1000; i++) await pub.publish(`topic=d&id=s${i}&data=${'f'.repeat(200)}`); // in order
          pub.close();
        }
        // Older than the 50 in memory: found on the log's reader, replayed from the files.
        const deep = await resume(b.port, { header: 's100' });
        assert.match(deep.head, /\r\nLast-Event-ID: s100\r\n/);
        assert.deepEqual(deep.ids, want(101, 1000), `run ${run}: everything after s100`);
        const byQuery = await resume(b.port, { query: '&lastEventID=s900' });
        assert.deepEqual(byQuery.ids, want(901, 1000), `run ${run}: by the query parameter`);
        const all = await resume(b.port, { header: 'earliest' });
        assert.deepEqual(all.ids, want(0, 1000), `run ${run}: earliest`);
        const unknown = await resume(b.port, { header: 'never-published' });
        assert.match(unknown.head, /\r\nLast-Event-ID: earliest\r\n/);
        const head = await rawRequest(b.port, `HEAD ${HUB}?topic=d HTTP/1.1\r\nHost: t\r\nLast-Event-ID: s5\r\nConnection: close\r\n\r\n`);
        assert.match(head, /\r\nLast-Event-ID: s5\r\n/);
        const names = b.threads();
        const workers = [...names.values()].filter((n) => /^sseb-worker-\d+$/.test(n));
        assert.equal(workers.length, 2, `threads: ${[...names.values()]}`);
        assert.ok([...names.values()].includes('sseb-log-reader'));
        const calls = fileCalls(out, names);
        for (const w of workers) assert.deepEqual(calls.get(w) || [], [], `run ${run}: ${w} made file system calls`);
        assert.ok((calls.get('sseb-log-reader') || []).length > 0, 'the reader read the files (the trace sees file calls)');
        if (run === 1) assert.ok((calls.get('sseb-log-writer') || []).length > 0, 'the writer wrote them');
      } finally {
        await b.stop();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
