// podman for tests/container/: every call uses this group's containers.conf (the machine's open-
// file cap and runc), every container and volume carries this run's label and name prefix, and
// cleanup() removes exactly those. Containers use the host network on loopback addresses only,
// or no network at all.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from '../../integration/lib/broker.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../../..');
export const CONTAINERS_CONF = path.join(here, '..', 'containers.conf');
export const ENV = { ...process.env, CONTAINERS_CONF };
// Unique per run: names and labels of what this process creates.
export const RUN = `sseb-ct-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
export const LABEL = `org.ssebroker.test=${RUN}`;
// podman logs these when a container has a health check and no systemd runs timers for it;
// `podman healthcheck run` is what the tests use.
const NOISE = /^time=.*(systemd connection|healthcheck).*\n?/gm;

// Runs podman; resolves to { code, stdout, stderr } (never rejects on a non-zero exit).
export function podman(args, { input, timeout = 120000, onStdout } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn('podman', args, { env: ENV, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; if (onStdout) onStdout(d); });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeout);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, signal, stdout, stderr: stderr.replace(NOISE, '') });
    });
    if (input !== undefined) {
      p.stdin.on('error', () => {}); // podman may exit before reading it all
      p.stdin.end(input);
    }
  });
}

// podman that must succeed: its standard output, trimmed.
export async function must(args, opts) {
  const r = await podman(args, opts);
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`.slice(0, 4000));
  return r.stdout.trim();
}

// Starts a detached container of this run; resolves to its name.
export async function runDetached(name, image, { args = [], cmd = [] } = {}) {
  const full = `${RUN}-${name}`;
  await must(['run', '-d', '--name', full, '--label', LABEL, ...args, image, ...cmd]);
  return full;
}

export async function createVolume(name) {
  const full = `${RUN}-${name}`;
  await must(['volume', 'create', '--label', LABEL, full]);
  return full;
}

export async function inspect(name, format) {
  return must(['inspect', '--format', format, name]);
}

// The exit code of a container once it has stopped.
export async function waitExit(name, timeout = 30000) {
  return Number(await must(['wait', name], { timeout }));
}

// `podman healthcheck run`: the image's (or the run's) own check, executed in the container.
export async function healthcheck(name) {
  const r = await podman(['healthcheck', 'run', name]);
  return { healthy: r.code === 0, out: (r.stdout + r.stderr).trim() };
}

export async function until(pred, what, timeout = 20000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function ids(kind) {
  const r = spawnSync('podman', [kind, 'ls', '-a', '-q', '--filter', `label=${LABEL}`].filter((a) => kind !== 'volume' || a !== '-a'),
    { env: ENV, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}

// Removes every container (with its anonymous volumes) and named volume of this run.
export function cleanup() {
  const containers = ids('container');
  if (containers.length) spawnSync('podman', ['rm', '-f', '-v', '-t', '0', ...containers], { env: ENV, stdio: 'ignore' });
  const volumes = ids('volume');
  if (volumes.length) spawnSync('podman', ['volume', 'rm', '-f', ...volumes], { env: ENV, stdio: 'ignore' });
  return { containers: containers.length, volumes: volumes.length };
}

// What a run killed before its cleanup (SIGKILL, a machine reset) left: containers and volumes
// labelled by a process that no longer exists.
export function cleanupStale() {
  const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
  for (const kind of ['container', 'volume']) {
    const fmt = kind === 'container' ? '{{.ID}} {{index .Labels "org.ssebroker.test"}}' : '{{.Name}} {{index .Labels "org.ssebroker.test"}}';
    const r = spawnSync('podman', [kind, 'ls', ...(kind === 'container' ? ['-a'] : []), '--filter', 'label=org.ssebroker.test', '--format', fmt],
      { env: ENV, encoding: 'utf8' });
    const stale = (r.stdout || '').split('\n').map((l) => l.split(' ')).filter(([id, run]) => {
      const pid = Number((run || '').split('-')[2]);
      return id && pid && pid !== process.pid && !alive(pid);
    }).map(([id]) => id);
    if (stale.length) spawnSync('podman', kind === 'container' ? ['rm', '-f', '-v', '-t', '0', ...stale] : ['volume', 'rm', '-f', ...stale], { env: ENV, stdio: 'ignore' });
  }
}
cleanupStale();

// A failed assertion, a crash or a signal must not leave containers behind.
process.once('exit', () => cleanup());
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    cleanup();
    process.exit(130);
  });
}
