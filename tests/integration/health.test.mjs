// `ssebroker health [--ready] [options]`: the container image's health check. It reads the same
// flags and SSEBROKER_* environment as the broker, asks /healthz (or /readyz) there and exits
// 0 on 200, 1 on anything else, 2 on a bad option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { Broker, BIN, freePort } from './lib/broker.mjs';

function health(args, env = {}) {
  return new Promise((resolve) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SSEBROKER_')));
    const t0 = Date.now();
    execFile(BIN, ['health', ...args], { env: { ...clean, ...env }, timeout: 10000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stderr, ms: Date.now() - t0 });
    });
  });
}

// A server on a loopback port that answers every request with `answer` (or never, when null).
async function fakeServer(answer) {
  const seen = [];
  const srv = net.createServer((sock) => {
    sock.on('data', (d) => {
      seen.push(d.toString());
      if (answer !== null) sock.end(answer);
    });
    sock.on('error', () => {});
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { port: srv.address().port, seen, close: () => { srv.close(); } };
}

test('health: 0 for a live broker, found through --listen or SSEBROKER_LISTEN (wildcard: loopback)', async () => {
  const b = await new Broker(['--workers', '1']).start();
  try {
    assert.equal((await health(['--listen', `127.0.0.1:${b.port}`])).code, 0);
    assert.equal((await health([], { SSEBROKER_LISTEN: `127.0.0.1:${b.port}` })).code, 0);
    // ":PORT" listens on every address: the check asks loopback.
    assert.equal((await health([], { SSEBROKER_LISTEN: `:${b.port}` })).code, 0);
    assert.equal((await health(['--ready'], { SSEBROKER_LISTEN: `:${b.port}` })).code, 0);
    // Flags win over the environment, as for the broker.
    const other = await freePort();
    assert.equal((await health(['--listen', `127.0.0.1:${b.port}`], { SSEBROKER_LISTEN: `127.0.0.1:${other}` })).code, 0);
  } finally {
    await b.stop();
  }
});

test('health: 1 when nothing listens there, with the address in the message', async () => {
  const port = await freePort();
  const r = await health(['--listen', `127.0.0.1:${port}`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`cannot connect to 127\\.0\\.0\\.1:${port}`));
});

test('health: asks GET /healthz, or /readyz with --ready; any status but 200 is 1', async () => {
  const ok = await fakeServer('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n');
  const draining = await fakeServer('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  try {
    assert.equal((await health(['--listen', `127.0.0.1:${ok.port}`])).code, 0);
    assert.match(ok.seen[0], /^GET \/healthz HTTP\/1\.1\r\n/);
    assert.equal((await health(['--ready', '--listen', `127.0.0.1:${ok.port}`])).code, 0);
    assert.match(ok.seen[1], /^GET \/readyz HTTP\/1\.1\r\n/);
    const r = await health(['--ready', '--listen', `127.0.0.1:${draining.port}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /answered 503/);
  } finally {
    ok.close();
    draining.close();
  }
});

test('health: a server that never answers fails the check within its 2 s timeout', async () => {
  const silent = await fakeServer(null);
  try {
    const r = await health(['--listen', `127.0.0.1:${silent.port}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no answer/);
    assert.ok(r.ms >= 1500 && r.ms < 6000, `${r.ms} ms`);
  } finally {
    silent.close();
  }
});

test('health: a bad option or value is 2, like the broker\'s', async () => {
  assert.equal((await health(['--no-such-flag'])).code, 2);
  assert.equal((await health([], { SSEBROKER_LISTEN: 'nonsense' })).code, 2);
  assert.equal((await health(['--listen', '127.0.0.1:0'])).code, 1, 'port 0 has nothing to ask');
});
