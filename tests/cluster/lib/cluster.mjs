// The deployment of docker/compose.yml on loopback: a real redis-server, N real broker nodes in
// cluster mode and a real HAProxy running docker/haproxy.cfg itself (its addresses come from the
// environment, which this file sets), with a development certificate made by
// scripts/dev-cert.sh. Only the processes started here are ever signalled.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Broker, freePort, rawRequest, sleep } from '../../integration/lib/broker.mjs';
import { RedisServer } from '../../integration/lib/redis.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const HAPROXY_CFG = path.join(root, 'docker/haproxy.cfg');

export async function until(pred, what, timeout = 10000) {
  const deadline = Date.now() + timeout;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export async function status(port, target) {
  try {
    const out = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`, { timeout: 2000 });
    return Number(out.slice(9, 12));
  } catch {
    return 0;
  }
}

export class Cluster {
  constructor({ nodes = 3, nodeArgs = [] } = {}) {
    this.count = nodes;
    this.nodeArgs = nodeArgs;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sseb-cluster-'));
  }

  nodeBroker() {
    return new Broker(['--redis', this.redis.url, '--workers', '1', '--heartbeat', '2s',
      '--retry-hint', '200ms', ...this.nodeArgs]);
  }

  // A start that fails stops what it had started before throwing.
  async start() {
    try {
      return await this.startAll();
    } catch (e) {
      await this.stop().catch(() => {});
      throw e;
    }
  }

  async startAll() {
    this.redis = await new RedisServer().start();
    this.nodes = [];
    for (let i = 0; i < this.count; i++) this.nodes.push(await this.nodeBroker().start());
    for (const b of this.nodes) await until(async () => (await status(b.port, '/readyz')) === 200, 'node ready');
    const cert = spawnSync('bash', [path.join(root, 'scripts/dev-cert.sh'), this.dir], { encoding: 'utf8' });
    if (cert.status !== 0) throw new Error(`dev-cert.sh failed: ${cert.stderr}`);
    this.httpPort = await freePort();
    this.httpsPort = await freePort();
    this.env = {
      ...process.env,
      SSEB_HTTP_BIND: `127.0.0.1:${this.httpPort}`,
      SSEB_HTTPS_BIND: `127.0.0.1:${this.httpsPort}`,
      SSEB_CERT: path.join(this.dir, 'dev.pem'),
      SSEB_CHECK_INTER: '200ms',
      // Two descriptors per connection within this machine's open-file limit (20,000).
      SSEB_MAXCONN: '9000',
    };
    this.nodes.forEach((b, i) => { this.env[`SSEB_NODE${i + 1}`] = `127.0.0.1:${b.port}`; });
    const check = spawnSync('haproxy', ['-c', '-f', HAPROXY_CFG], { env: this.env, encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`haproxy -c refused docker/haproxy.cfg: ${check.stdout}${check.stderr}`);
    this.haproxy = spawn('haproxy', ['-db', '-f', HAPROXY_CFG], { env: this.env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.haproxyLog = '';
    this.haproxy.stderr.on('data', (d) => { this.haproxyLog += d; });
    this.haproxy.unref();
    this.haproxy.stderr.unref();
    const hp = this.haproxy;
    process.once('exit', () => { if (hp.exitCode === null) hp.kill('SIGKILL'); });
    this.haproxyExited = new Promise((r) => hp.on('exit', r));
    await until(async () => {
      if (hp.exitCode !== null) throw new Error(`haproxy exited: ${this.haproxyLog}`);
      return (await status(this.httpPort, '/readyz')) === 200;
    }, 'HAProxy up');
    // Every node's check has passed "rise" times before the tests spread streams over them.
    await sleep(600);
    return this;
  }

  get base() {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  async stop() {
    if (this.haproxy && this.haproxy.exitCode === null) {
      this.haproxy.ref();
      this.haproxy.kill('SIGTERM');
      await this.haproxyExited;
    }
    for (const b of this.nodes || []) {
      if (b.proc && b.proc.exitCode === null && b.proc.signalCode === null) await b.stop();
    }
    if (this.redis) await this.redis.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
