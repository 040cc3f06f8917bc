// docker/Dockerfile built with podman from debootstrapped bases and run as a user would run it:
// what the build stage holds, what the build context lets in, the user, the libraries, the
// size, the health check on the default and on other listen addresses, publish and subscribe,
// the history volume across restarts and containers, and a clean SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, RawSubscriber, keepAlivePublisher, sleep } from '../integration/lib/broker.mjs';
import { ROOT, RUN, podman, must, runDetached, createVolume, inspect, waitExit, healthcheck, until, cleanup } from './lib/podman.mjs';
import { ensureBrokerImage, build, imageSize } from './lib/images.mjs';

const MAX_IMAGE_BYTES = 100e6;
let IMAGE, STAGE;

before(async () => {
  const t0 = Date.now();
  const built = await ensureBrokerImage();
  IMAGE = built.image;
  STAGE = built.buildStage;
  console.log(`# image ${IMAGE} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (base images and build)`);
});

after(() => {
  const removed = cleanup();
  console.log(`# cleanup: ${removed.containers} containers, ${removed.volumes} volumes`);
});

// A broker container on the host network, listening on a loopback port.
async function startBroker(name, { env = {}, args = [], cmd = [] } = {}) {
  const port = await freePort();
  const envArgs = Object.entries({ SSEBROKER_LISTEN: `127.0.0.1:${port}`, ...env }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  const ctr = await runDetached(name, IMAGE, { args: ['--network', 'host', ...envArgs, ...args], cmd: ['--workers', '1', ...cmd] });
  await untilHealthz(port, ctr);
  return { ctr, port };
}

async function healthz(port) {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return 0;
  }
}

async function untilHealthz(port, ctr) {
  await until(async () => (await healthz(port)) === 200, `/healthz of ${ctr}`).catch(async (e) => {
    throw new Error(`${e.message}\n${(await podman(['logs', ctr])).stderr}`);
  });
}

test('the build stage installs only what compiles the broker, and builds only the broker', async () => {
  const pkgs = (await must(['run', '--rm', '--network', 'none', '--entrypoint', 'dpkg-query', STAGE, '-W', '-f', '${Package}\\n'])).split('\n');
  for (const p of ['gcc', 'cmake', 'node-llhttp', 'libjansson-dev', 'libhiredis-dev']) assert.ok(pkgs.includes(p), `${p} installed`);
  // scripts/setup.sh's test toolchain: none of it belongs in an image build. (nodejs does come:
  // Debian's node-llhttp, which ships the parser's C sources, depends on it.)
  const toolchain = ['clang', 'chromium', 'libcriterion-dev', 'libjwt-dev', 'haproxy', 'redis-server', 'curl', 'gnuplot-nox', 'llvm', 'npm'];
  assert.deepEqual(toolchain.filter((p) => pkgs.includes(p)), [], 'no test toolchain in the build stage');
  console.log(`# build stage: ${pkgs.length} Debian packages`);
  const files = (await must(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', STAGE, '-c',
    'cd /src && find build-broker -maxdepth 1 -type f -perm -u+x; ls; find / -xdev -name node_modules -type d | head -1'])).split('\n');
  assert.ok(files.includes('build-broker/ssebroker'), 'the broker was built');
  const executables = files.filter((f) => f.startsWith('build-broker/'));
  assert.deepEqual(executables, ['build-broker/ssebroker'], 'no test, stress or bench executable');
  assert.ok(!files.includes('tests') && !files.some((f) => f.includes('node_modules')), `no tests or npm packages: ${files}`);
});

test('the build context leaves out docker/certs (the private key), build outputs and node_modules', async () => {
  // What a user has in the tree when building: a development certificate (scripts/dev-cert.sh).
  const certs = path.join(ROOT, 'docker/certs');
  const made = !fs.existsSync(certs);
  const canary = path.join(certs, `${RUN}.pem`);
  fs.mkdirSync(certs, { recursive: true });
  fs.writeFileSync(canary, 'not a key\n');
  const probe = `localhost/${RUN}-context:probe`;
  // Outside the context: the context's own .dockerignore still decides what is sent.
  const file = path.join(os.tmpdir(), `${RUN}.Containerfile`);
  fs.writeFileSync(file, 'FROM debian:12-slim\nCOPY . /ctx\n');
  try {
    await build(probe, file, ROOT, { logName: 'context-probe.log' });
    const seen = (await must(['run', '--rm', '--network', 'none', probe, 'sh', '-c',
      'cd /ctx && ls -d docker/* build* .git tests/integration/node_modules 2>/dev/null; find . -name "*.pem" | head'])).split('\n');
    assert.ok(seen.includes('docker/Dockerfile'), `the context has the sources: ${seen}`);
    assert.deepEqual(seen.filter((f) => /certs|\.pem$|^build|^\.git|node_modules/.test(f)), [], 'nothing secret or built in the context');
  } finally {
    fs.rmSync(file, { force: true });
    fs.rmSync(made ? certs : canary, { recursive: true, force: true });
    await podman(['rmi', '-f', probe]);
  }
});

test('the image runs as uid and gid 10001 (ssebroker), not root', async () => {
  assert.equal(await inspect(IMAGE, '{{.Config.User}}'), '10001:10001');
  const id = await must(['run', '--rm', '--network', 'none', '--entrypoint', 'id', IMAGE]);
  assert.equal(id, 'uid=10001(ssebroker) gid=10001(ssebroker) groups=10001(ssebroker)');
});

test('every shared library the broker needs is in the image (ldd), and it is at most 100 MB', async () => {
  const ldd = await must(['run', '--rm', '--network', 'none', '--entrypoint', 'ldd', IMAGE, '/usr/local/bin/ssebroker']);
  assert.doesNotMatch(ldd, /not found/, ldd);
  assert.match(ldd, /libjemalloc/, 'jemalloc is the allocator');
  // What the image trims (its package manager and what only that links) leaves no program or
  // library behind that misses one of its own.
  const broken = await must(['run', '--rm', '--network', 'none', '--entrypoint', 'bash', IMAGE, '-c',
    'for f in /usr/bin/* /usr/sbin/* /usr/lib/x86_64-linux-gnu/*.so*; do [ -f "$f" ] && ldd "$f" 2>/dev/null | grep -q "not found" && echo "$f"; done; true']);
  assert.equal(broken, '', `programs or libraries with a missing library:\n${broken}`);
  const size = await imageSize(IMAGE);
  console.log(`# image size: ${(size / 1e6).toFixed(1)} MB (limit ${MAX_IMAGE_BYTES / 1e6} MB)`);
  assert.ok(size <= MAX_IMAGE_BYTES, `image is ${size} bytes`);
});

test('the health check is the broker\'s own (no curl in the image) and follows the listen address', async () => {
  const [config] = JSON.parse(await must(['image', 'inspect', IMAGE]));
  assert.deepEqual(config.Healthcheck?.Test, ['CMD', 'ssebroker', 'health'], 'HEALTHCHECK kept (docker format) and asks the broker');
  const curl = await podman(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', IMAGE, '-c', 'command -v curl']);
  assert.notEqual(curl.code, 0, 'no curl in the image');

  // The default address (:8080 on every interface): in a network namespace of its own, so
  // nothing listens on the host's interfaces; the host's curl asks from inside it (nsenter).
  const dflt = await runDetached('health-default', IMAGE, { args: ['--network', 'none'], cmd: ['--workers', '1'] });
  const pid = await inspect(dflt, '{{.State.Pid}}');
  await until(async () => (await healthcheck(dflt)).healthy, 'healthy on the default address');
  const nsenter = spawnSync('nsenter', ['-t', pid, '-n', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}',
    'http://127.0.0.1:8080/healthz'], { encoding: 'utf8' });
  assert.equal(nsenter.stdout, '200', `/healthz on :8080 inside the container: ${nsenter.stderr}`);
  assert.equal(await inspect(dflt, '{{.State.Health.Status}}'), 'healthy');

  // A non-default address from the environment, and one given as the command's --listen.
  const byEnv = await startBroker('health-env');
  const byArg = await runDetached('health-arg', IMAGE, { args: ['--network', 'host'], cmd: ['--listen', `127.0.0.1:${await freePort()}`, '--workers', '1'] });
  const argPort = Number((await inspect(byArg, '{{json .Config.Cmd}}')).match(/127\.0\.0\.1:(\d+)/)[1]);
  await untilHealthz(argPort, byArg);
  for (const ctr of [byEnv.ctr, byArg]) {
    const h = await healthcheck(ctr);
    assert.ok(h.healthy, `${ctr}: ${h.out}`);
    assert.equal(await inspect(ctr, '{{.State.Health.Status}}'), 'healthy');
  }
  // The check can fail: asked of an address where nothing listens, it says so.
  const wrong = await podman(['exec', byEnv.ctr, 'ssebroker', 'health', '--listen', `127.0.0.1:${await freePort()}`]);
  assert.equal(wrong.code, 1, wrong.stderr);
  assert.match(wrong.stderr, /cannot connect/);
  for (const ctr of [dflt, byEnv.ctr, byArg]) await must(['rm', '-f', '-v', ctr]);
});

test('a publish reaches a subscriber; the process runs as uid 10001', async () => {
  const { ctr, port } = await startBroker('pubsub');
  assert.equal(await must(['exec', ctr, 'id', '-u']), '10001');
  const sub = new RawSubscriber(port, '?topic=https://example.com/books/1');
  await sub.ready();
  const pub = keepAlivePublisher(port, 1);
  await pub.publish('topic=https://example.com/books/1&id=b1&data=hello');
  await sub.waitFor((s) => s.events.length === 1);
  assert.deepEqual(sub.events.map((e) => [e.id, e.data]), [['b1', 'hello']]);
  sub.close();
  pub.close();
  await must(['rm', '-f', '-v', ctr]);
});

async function replayAll(port, topic) {
  const sub = new RawSubscriber(port, `?topic=${topic}`, { 'Last-Event-ID': 'earliest' });
  await sub.ready();
  await sleep(500);
  sub.close();
  return sub.events.map((e) => e.id);
}

test('the history volume survives podman stop/start and a new container on the same volume', async () => {
  const vol = await createVolume('history');
  const mount = ['-v', `${vol}:/var/lib/ssebroker`];
  const first = await startBroker('history-1', { args: mount });
  let pub = keepAlivePublisher(first.port, 1);
  for (let i = 1; i <= 3; i++) await pub.publish(`topic=h&id=h${i}&data=${i}`);
  pub.close();
  assert.deepEqual(await replayAll(first.port, 'h'), ['h1', 'h2', 'h3']);

  await must(['stop', '-t', '20', first.ctr]);
  assert.equal(await waitExit(first.ctr), 0, 'stopped cleanly');
  await must(['start', first.ctr]);
  await untilHealthz(first.port, first.ctr);
  assert.deepEqual(await replayAll(first.port, 'h'), ['h1', 'h2', 'h3'], 'after stop and start');
  pub = keepAlivePublisher(first.port, 1);
  await pub.publish('topic=h&id=h4&data=4');
  pub.close();
  await must(['stop', '-t', '20', first.ctr]);
  await must(['rm', first.ctr]);

  const second = await startBroker('history-2', { args: mount });
  assert.deepEqual(await replayAll(second.port, 'h'), ['h1', 'h2', 'h3', 'h4'], 'a new container on the same volume');
  const owner = await must(['run', '--rm', '--network', 'none', ...mount, '--entrypoint', 'stat', IMAGE, '-c', '%u:%g', '/var/lib/ssebroker']);
  assert.equal(owner, '10001:10001', 'the volume belongs to the broker user');
  await must(['rm', '-f', second.ctr]);
});

test('SIGTERM drains the streams and the container exits 0', async () => {
  const { ctr, port } = await startBroker('sigterm', { cmd: ['--drain-timeout', '2s', '--retry-hint', '700ms'] });
  const sub = new RawSubscriber(port, '?topic=t');
  await sub.ready();
  assert.match(sub.headers, /^HTTP\/1.1 200/);
  const t0 = Date.now();
  await must(['kill', '--signal', 'TERM', ctr]);
  const code = await waitExit(ctr);
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(code, 0, (await podman(['logs', ctr])).stderr);
  await sub.waitFor((s) => s.closed);
  assert.match(sub.raw, /retry: ?700/, 'the stream got the retry hint before it closed');
  const logs = (await podman(['logs', ctr])).stderr;
  assert.match(logs, /msg="draining" signal=SIGTERM/);
  assert.match(logs, /msg="stopped"/);
  assert.ok(seconds < 10, `exited within the drain window and podman's stop timeout (${seconds} s)`);
  await must(['rm', '-v', ctr]);
});
