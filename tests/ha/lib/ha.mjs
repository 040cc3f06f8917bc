// Redis high availability on loopback: a master, replicas and three redis-sentinel processes
// (Debian's packages), each on a free port with a temporary directory, and broker nodes that know
// only the sentinels' addresses. The sentinels use short timeouts so that a failover takes
// seconds. Only the processes started here are ever signalled.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Broker, freePort, sleep } from '../../integration/lib/broker.mjs';
import { RedisServer } from '../../integration/lib/redis.mjs';

export const MASTER_NAME = 'hamaster';

// Every process started here (and by the brokers' harness) removes itself on exit.
process.setMaxListeners(100);

export async function until(pred, what, timeout = 10000) {
  const deadline = Date.now() + timeout;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export async function readyz(b) {
  try {
    const res = await fetch(`${b.base}/readyz`, { signal: AbortSignal.timeout(2000) });
    return res.status;
  } catch {
    return 0;
  }
}

export class Sentinel {
  constructor(masterPort, { downAfterMs = 1000, failoverTimeoutMs = 3000 } = {}) {
    this.masterPort = masterPort;
    this.downAfterMs = downAfterMs;
    this.failoverTimeoutMs = failoverTimeoutMs;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sseb-sentinel-'));
  }

  async start() {
    this.port = await freePort();
    // Sentinel rewrites its configuration file: it must be its own and writable.
    this.conf = path.join(this.dir, 'sentinel.conf');
    fs.writeFileSync(this.conf, [
      `port ${this.port}`, 'bind 127.0.0.1', `dir ${this.dir}`, 'protected-mode no',
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${this.masterPort} 2`,
      `sentinel down-after-milliseconds ${MASTER_NAME} ${this.downAfterMs}`,
      `sentinel failover-timeout ${MASTER_NAME} ${this.failoverTimeoutMs}`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`, '',
    ].join('\n'));
    this.proc = spawn('redis-sentinel', [this.conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.log = '';
    this.proc.stdout.on('data', (d) => { this.log += d; });
    this.proc.stderr.on('data', (d) => { this.log += d; });
    this.proc.unref();
    this.proc.stdout.unref();
    this.proc.stderr.unref();
    const child = this.proc;
    process.once('exit', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
    this.exited = new Promise((resolve) => child.on('exit', () => resolve()));
    await until(() => this.cli('PING').trim() === 'PONG', `redis-sentinel up: ${this.log}`);
    return this;
  }

  cli(...args) {
    const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(this.port), '--raw', ...args],
      { encoding: 'utf8', timeout: 5000 });
    return r.stdout || '';
  }

  // The master's port as this sentinel names it.
  masterPortNow() {
    const out = this.cli('SENTINEL', 'get-master-addr-by-name', MASTER_NAME).trim().split('\n');
    return Number(out[1]);
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.ref();
      this.proc.kill('SIGKILL');
      await this.exited;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// A master, `replicas` replicas, three sentinels; brokers made by node().
export class HaRedis {
  constructor({ replicas = 1, masterArgs = [], downAfterMs = 1000 } = {}) {
    this.replicaCount = replicas;
    this.masterArgs = masterArgs;
    this.downAfterMs = downAfterMs;
    this.nodes = [];
  }

  async start() {
    try {
      this.master = await new RedisServer({ args: this.masterArgs }).start();
      this.replicas = [];
      for (let i = 0; i < this.replicaCount; i++) {
        this.replicas.push(await new RedisServer({
          args: ['--replicaof', '127.0.0.1', String(this.master.port), ...this.masterArgs],
        }).start());
      }
      await until(() => this.replicas.every((r) => /master_link_status:up/.test(r.cli('INFO', 'replication'))),
        'replicas in sync');
      this.sentinels = [];
      for (let i = 0; i < 3; i++) this.sentinels.push(await new Sentinel(this.master.port, { downAfterMs: this.downAfterMs }).start());
      // Every sentinel knows the replicas and the other sentinels before anything is hurt.
      await until(() => this.sentinels.every((s) => {
        const info = s.cli('SENTINEL', 'master', MASTER_NAME);
        const field = (name) => Number((new RegExp(`\\n${name}\\n(\\d+)`).exec(`\n${info}`) || [])[1]);
        return field('num-slaves') >= this.replicaCount && field('num-other-sentinels') >= 2;
      }), 'sentinels know each other and the replicas', 20000);
      return this;
    } catch (e) {
      await this.stop().catch(() => {});
      throw e;
    }
  }

  get sentinelList() {
    return this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
  }

  // Every Redis server of this setup, the master first as started.
  get servers() {
    return [this.master, ...this.replicas];
  }

  // The server the sentinels currently name as master.
  currentMaster() {
    const port = this.sentinels[0].masterPortNow();
    return this.servers.find((s) => s.port === port);
  }

  node(extra = []) {
    const b = new Broker(['--redis-sentinel', this.sentinelList, '--redis-master', MASTER_NAME,
      '--workers', '1', '--heartbeat', '2s', '--retry-hint', '200ms', ...extra]);
    this.nodes.push(b);
    return b;
  }

  // Stops everything started here; then reports a node that did not exit cleanly (a sanitizer
  // report, a crash).
  async stop() {
    const errors = [];
    for (const b of this.nodes) {
      if (b.proc && b.proc.exitCode === null && b.proc.signalCode === null) await b.stop().catch((e) => errors.push(e));
    }
    for (const s of this.sentinels || []) await s.stop();
    for (const r of [this.master, ...(this.replicas || [])]) if (r) await r.stop();
    if (errors.length) throw errors[0];
  }
}
