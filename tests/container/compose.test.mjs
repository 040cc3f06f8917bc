// docker/compose.yml's services run from the compose file's own settings: its images (the broker
// image built once; local stand-ins for redis:7 and haproxy:2.6, no registry being reachable),
// commands, environment, health checks, ulimits and volumes, with docker/haproxy.cfg and a
// certificate from scripts/dev-cert.sh. podman-compose would put them on a bridge with private
// addresses, which these machines must not use, so each service is a `podman run --network
// host` container; what changes is only where things listen: loopback ports instead of service
// names and fixed ports (README.md, "Container image", lists each substitution).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { freePort, RawSubscriber, keepAlivePublisher, parseSseEvents, HUB, sleep } from '../integration/lib/broker.mjs';
import { ROOT, podman, must, runDetached, createVolume, waitExit, healthcheck, until, cleanup } from './lib/podman.mjs';
import { loadCompose, environment, healthArgs, ulimitArgs, COMPOSE_DIR } from './lib/compose.mjs';
import { ensureBrokerImage, ensureServiceImages } from './lib/images.mjs';

const compose = loadCompose();
const { services } = compose;
const NODES = ['broker1', 'broker2', 'broker3'];

test('compose builds the broker image once, and every node runs it', () => {
  const building = Object.entries(services).filter(([, s]) => s.build).map(([n]) => n);
  assert.deepEqual(building, ['broker1'], 'one service builds');
  const images = new Set(NODES.map((n) => services[n].image));
  assert.equal(images.size, 1, `one image for every node: ${[...images]}`);
  assert.ok(services.broker1.image, 'the built image has a name the others use');
  assert.ok(fs.existsSync(path.resolve(COMPOSE_DIR, services.broker1.build.context, services.broker1.build.dockerfile)));
});

test('compose publishes on loopback unless asked, and HAProxy gets the open files its maxconn needs', () => {
  for (const [name, s] of Object.entries(services)) {
    for (const p of s.ports || []) assert.match(String(p), /^127\.0\.0\.1:\d+:\d+$/, `${name} publishes ${p} on loopback`);
  }
  assert.match(String(loadCompose({ SSEB_PUBLISH_ADDRESS: '0.0.0.0' }).services.haproxy.ports[0]), /^0\.0\.0\.0:8080:8080$/);
  // HAProxy needs two descriptors per connection and refuses to start without them (run below).
  const maxconn = Number(environment(services.haproxy).SSEB_MAXCONN);
  const nofile = services.haproxy.ulimits?.nofile;
  assert.ok(maxconn > 0 && nofile, 'compose sets both maxconn and the open-file limit');
  assert.ok(2 * maxconn + 200 <= (nofile.soft ?? nofile), `maxconn ${maxconn} fits nofile ${JSON.stringify(nofile)}`);
});

// An SSE stream over h2 through HAProxy's TLS port, read by curl.
function curlStream(url) {
  const s = { out: '', events: [] };
  s.proc = spawn('curl', ['-sk', '--http2', '-N', '-i', url], { stdio: ['ignore', 'pipe', 'ignore'] });
  s.proc.stdout.on('data', (d) => {
    s.out += d;
    const i = s.out.indexOf('\r\n\r\n');
    if (i >= 0) s.events = parseSseEvents(s.out.slice(i + 4));
  });
  s.close = () => s.proc.kill('SIGTERM');
  return s;
}

function curlStatus(args) {
  const r = spawnSync('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', '--max-time', '5', ...args], { encoding: 'utf8' });
  return r.stdout;
}

async function status(url) {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(3000) })).status;
  } catch {
    return 0;
  }
}

describe('the compose services on the host network', () => {
  const t = {};

  before(async () => {
    const t0 = Date.now();
    const { image } = await ensureBrokerImage();
    const local = await ensureServiceImages();
    t.image = image;
    assert.equal(local.redis, services.redis.image);
    console.log(`# images ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    t.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sseb-compose-'));
    // The certificate as a user makes it (bash scripts/dev-cert.sh), here in a directory of its own.
    const certs = path.join(t.dir, 'certs');
    const cert = spawnSync('bash', [path.join(ROOT, 'scripts/dev-cert.sh'), certs], { encoding: 'utf8' });
    assert.equal(cert.status, 0, cert.stderr);

    // redis: the compose command, listening on a loopback port; its data on a volume of its own.
    const redis = services.redis;
    t.redisPort = await freePort();
    const redisVolume = await createVolume('redis-data');
    const [volName, volTarget] = redis.volumes[0].split(':');
    assert.equal(volName, 'redis-data');
    const port = ['-p', String(t.redisPort)];
    t.redis = await runDetached('redis', redis.image, {
      args: ['--network', 'host', '-v', `${redisVolume}:${volTarget}`, ...ulimitArgs(redis),
        ...healthArgs(redis, ([cli, ...rest]) => [cli, ...port, ...rest])],
      cmd: [...redis.command, '--port', String(t.redisPort), '--bind', '127.0.0.1'],
    });
    await until(async () => (await healthcheck(t.redis)).healthy, 'redis healthy (depends_on: service_healthy)');

    // The nodes: the compose environment, Redis and the listen address on loopback.
    t.nodes = [];
    for (const name of NODES) {
      const s = services[name];
      const nodePort = await freePort();
      const env = { ...environment(s), SSEBROKER_LISTEN: `127.0.0.1:${nodePort}` };
      env.SSEBROKER_REDIS = env.SSEBROKER_REDIS.replace('redis://redis:6379', `redis://127.0.0.1:${t.redisPort}`);
      const ctr = await runDetached(name, s.image, {
        args: ['--network', 'host', ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), ...ulimitArgs(s), ...healthArgs(s)],
      });
      t.nodes.push({ name, ctr, port: nodePort });
    }

    // HAProxy: the compose file's volumes (docker/haproxy.cfg, the certificate), environment and
    // ulimits, run as its image's user.
    const hp = services.haproxy;
    t.httpPort = await freePort();
    t.httpsPort = await freePort();
    const mounts = hp.volumes.flatMap((v) => {
      const [src, dst, mode] = v.split(':');
      const host = src === './certs' ? certs : path.resolve(COMPOSE_DIR, src);
      return ['-v', `${host}:${dst}${mode ? `:${mode}` : ''}`];
    });
    const env = {
      ...environment(hp),
      SSEB_HTTP_BIND: `127.0.0.1:${t.httpPort}`,
      SSEB_HTTPS_BIND: `127.0.0.1:${t.httpsPort}`,
      ...Object.fromEntries(t.nodes.map((n, i) => [`SSEB_NODE${i + 1}`, `127.0.0.1:${n.port}`])),
    };
    t.haproxy = await runDetached('haproxy', hp.image, {
      args: ['--network', 'host', ...mounts, ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), ...ulimitArgs(hp)],
    });
    t.base = `http://127.0.0.1:${t.httpPort}`;
    await until(async () => (await status(`${t.base}/healthz`)) === 200, 'HAProxy answering', 20000).catch(async (e) => {
      throw new Error(`${e.message}: ${(await podman(['logs', t.haproxy])).stderr}`);
    });
    console.log(`# topology up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  after(async () => {
    const removed = cleanup();
    console.log(`# cleanup: ${removed.containers} containers, ${removed.volumes} volumes`);
    if (t.dir) fs.rmSync(t.dir, { recursive: true, force: true });
  });

  test('every node is healthy by its compose health check and ready; Redis keeps an AOF on its volume', async () => {
    for (const n of t.nodes) {
      await until(async () => (await healthcheck(n.ctr)).healthy, `${n.name} healthy`);
      assert.equal(await status(`http://127.0.0.1:${n.port}/readyz`), 200);
      assert.equal(await must(['exec', n.ctr, 'id', '-u']), '10001');
    }
    const conf = await must(['exec', t.redis, 'redis-cli', '-p', String(t.redisPort), 'config', 'get', 'append*']);
    assert.match(conf, /appendonly\nyes/);
    assert.match(conf, /appendfsync\nalways/);
    const aof = await must(['exec', t.redis, 'sh', '-c', 'ls /data/appendonlydir']);
    assert.match(aof, /\.aof/);
  });

  test('HAProxy runs as uid 99 with the certificate scripts/dev-cert.sh made, serving HTTP/1.1 and h2 over TLS', async () => {
    assert.equal(await must(['exec', t.haproxy, 'id', '-u']), '99');
    assert.equal(await status(`${t.base}/healthz`), 200);
    const https = `https://127.0.0.1:${t.httpsPort}/healthz`;
    assert.equal(curlStatus(['--http2', https]), '2 200');
    assert.equal(curlStatus(['--http1.1', https]), '1.1 200');
    const peer = await new Promise((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port: t.httpsPort, servername: 'localhost', ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: false }, () => {
        resolve({ alpn: sock.alpnProtocol, cn: sock.getPeerCertificate().subject?.CN });
        sock.destroy();
      });
      sock.on('error', reject);
    });
    assert.deepEqual(peer, { alpn: 'h2', cn: 'localhost' });
  });

  test('a publish on one node reaches subscribers through HAProxy (HTTP/1.1 and h2) and on another node, in order', async () => {
    const topic = 'https://example.com/compose';
    const q = `?topic=${encodeURIComponent(topic)}`;
    const viaHaproxy = new RawSubscriber(t.httpPort, q);
    const onNode2 = new RawSubscriber(t.nodes[1].port, q);
    const overH2 = curlStream(`https://127.0.0.1:${t.httpsPort}${HUB}${q}`);
    try {
      await viaHaproxy.ready();
      await onNode2.ready();
      await until(() => /^HTTP\/2 200/.test(overH2.out), 'the h2 stream open');
      const pub = keepAlivePublisher(t.nodes[0].port, 1);
      const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
      for (const id of ids) await pub.publish(`topic=${encodeURIComponent(topic)}&id=${id}&data=${id}`);
      pub.close();
      const got = (s) => s.events.map((e) => e.id);
      await until(() => [viaHaproxy, onNode2, overH2].every((s) => s.events.length >= ids.length), 'every update everywhere', 10000);
      assert.deepEqual(got(viaHaproxy), ids, 'through HAProxy, HTTP/1.1');
      assert.deepEqual(got(overH2), ids, 'through HAProxy, h2 over TLS');
      assert.deepEqual(got(onNode2), ids, 'on another node');
    } finally {
      viaHaproxy.close();
      onNode2.close();
      overH2.close();
    }
  });

  test('with a node stopped (SIGTERM, exit 0), HAProxy keeps answering and delivering', async () => {
    const [stopped, ...running] = t.nodes;
    await must(['stop', '-t', '20', stopped.ctr]);
    assert.equal(await waitExit(stopped.ctr), 0);
    for (let i = 0; i < 10; i++) {
      assert.equal(await status(`${t.base}/readyz`), 200, `request ${i} through HAProxy`);
      assert.equal(curlStatus(['--http2', `https://127.0.0.1:${t.httpsPort}/readyz`]), '2 200');
    }
    const q = '?topic=after-stop';
    const viaHaproxy = new RawSubscriber(t.httpPort, q);
    const onNode3 = new RawSubscriber(running[1].port, q);
    await viaHaproxy.ready();
    await onNode3.ready();
    const pub = keepAlivePublisher(t.httpPort, 1);
    await pub.publish('topic=after-stop&id=s1&data=still+here');
    pub.close();
    await viaHaproxy.waitFor((s) => s.events.length === 1);
    await onNode3.waitFor((s) => s.events.length === 1);
    assert.equal(viaHaproxy.events[0].id, 's1');
    assert.equal(onNode3.events[0].data, 'still here');
    viaHaproxy.close();
    onNode3.close();
    await sleep(100);
  });
});
