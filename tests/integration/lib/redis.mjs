// A real redis-server (Debian's package) of the test's own, on a free loopback port with a
// temporary directory, and the means to hurt it: SIGKILL, SIGSTOP/SIGCONT, restart on the same
// files. Only the process started here is ever signalled.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, sleep } from './broker.mjs';

export class RedisServer {
  // opts: { aof: true (appendfsync always) | false, args: [...extra config] }
  constructor({ aof = true, args = [] } = {}) {
    this.aof = aof;
    this.extra = args;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sseb-redis-'));
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start() {
    if (!this.port) this.port = await freePort();
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--save', '', '--appendonly', this.aof ? 'yes' : 'no', '--appendfsync', 'always',
      '--protected-mode', 'no', ...this.extra];
    this.proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.log = '';
    this.proc.stdout.on('data', (d) => { this.log += d; });
    this.proc.stderr.on('data', (d) => { this.log += d; });
    this.proc.unref();
    this.proc.stdout.unref();
    this.proc.stderr.unref();
    const child = this.proc;
    process.once('exit', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
    this.exited = new Promise((resolve) => child.on('exit', () => resolve()));
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      if (this.cli('PING').trim() === 'PONG') return this;
      await sleep(50);
    }
    throw new Error(`redis-server did not start: ${this.log}`);
  }

  // One command through redis-cli; returns its raw output.
  cli(...args) {
    const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(this.port), '--raw', ...args],
      { encoding: 'utf8', timeout: 5000 });
    return r.stdout || '';
  }

  // The ids (field 'i') of a Stream's entries, in its order. Picked out by Redis itself: the
  // entries' other fields are binary (a record's time and checksum can hold a newline, then an
  // 'i'), so splitting XRANGE's raw output into lines would find ids that are not there.
  streamIds(key = 'ssebroker') {
    const script = "local out = {} for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do "
      + "local f = e[2] for j = 1, #f, 2 do if f[j] == 'i' then out[#out + 1] = f[j + 1] end end end return out";
    return this.cli('EVAL', script, '1', key).split('\n').filter((l) => l !== '');
  }

  async signal(sig) {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.ref();
    this.proc.kill(sig);
    if (sig === 'SIGKILL' || sig === 'SIGTERM') {
      await this.exited;
      this.proc = null;
    }
  }

  kill() { return this.signal('SIGKILL'); }
  pause() { return this.signal('SIGSTOP'); }
  resume() { return this.signal('SIGCONT'); }

  async stop() {
    if (this.proc) {
      this.proc.kill('SIGCONT');
      await this.signal('SIGKILL');
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// A server that speaks just enough RESP to look like Redis of the given INFO text, for refusals
// that a real Debian Redis cannot show (an old version).
export async function fakeRedis(info) {
  const port = await freePort();
  const server = net.createServer((sock) => {
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      // Answer each complete command (arrays of bulk strings) in turn.
      for (;;) {
        const m = /^\*(\d+)\r\n/.exec(buf);
        if (!m) return;
        let off = m[0].length;
        const parts = [];
        for (let i = 0; i < Number(m[1]); i++) {
          const l = /^\$(\d+)\r\n/.exec(buf.slice(off));
          if (!l || buf.length < off + l[0].length + Number(l[1]) + 2) return;
          off += l[0].length;
          parts.push(buf.slice(off, off + Number(l[1])));
          off += Number(l[1]) + 2;
        }
        buf = buf.slice(off);
        const cmd = parts[0].toUpperCase();
        if (cmd === 'INFO') sock.write(`$${info.length}\r\n${info}\r\n`);
        else if (cmd === 'PING') sock.write('+PONG\r\n');
        else sock.write('-ERR not supported here\r\n');
      }
    });
    sock.on('error', () => {});
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { port, url: `redis://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}
