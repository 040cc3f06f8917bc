// The images tests/container/ runs, built here with podman and no registry: the debootstrapped
// bases (scripts/base-images.sh: kept in podman's storage between runs, made again when
// missing), docker/Dockerfile under the name docker/compose.yml gives it, its build stage
// (tagged, so the test can look inside it, and so later builds reuse its layers), and local
// stand-ins for the compose file's redis and haproxy images. Layer caching makes a second run
// cheap; an image a rebuild replaces is removed, so old builds do not pile up.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, ENV, podman, must } from './podman.mjs';
import { loadCompose } from './compose.mjs';

export const BUILD_STAGE = 'localhost/ssebroker-build:test';
const BUILD_FLAGS = ['--pull=never', '--network', 'host', '--format', 'docker'];
// Build logs of the latest run (replaced by the next one), for a failure's details.
export const LOG_DIR = path.join(os.tmpdir(), 'sseb-container-logs');
fs.mkdirSync(LOG_DIR, { recursive: true });

function runLogged(cmd, args, logName, timeout) {
  const log = path.join(LOG_DIR, logName);
  return new Promise((resolve, reject) => {
    const out = fs.openSync(log, 'w');
    const p = spawn(cmd, args, { cwd: ROOT, env: ENV, stdio: ['ignore', out, out] });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeout);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      fs.closeSync(out);
      if (code === 0) resolve(log);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}; last lines of ${log}:\n${fs.readFileSync(log, 'utf8').slice(-3000)}`));
    });
  });
}

async function imageId(tag) {
  const r = await podman(['image', 'inspect', '--format', '{{.Id}}', tag]);
  return r.code === 0 ? r.stdout.trim() : null;
}

// podman build with the flags the README gives; removes the image the tag named before when the
// build replaced it (and, with it, its layers no other image uses).
export async function build(tag, file, context, { target, logName, timeout = 900000 } = {}) {
  const before = await imageId(tag);
  const args = ['build', ...BUILD_FLAGS, '-f', file, '-t', tag, ...(target ? ['--target', target] : []), context];
  const start = Date.now();
  const log = await runLogged('podman', args, logName || `${tag.replace(/[^a-z0-9]+/gi, '_')}.log`, timeout);
  const after = await imageId(tag);
  if (before && before !== after) await podman(['rmi', before]);
  return { log, seconds: (Date.now() - start) / 1000 };
}

export async function ensureBaseImages() {
  await runLogged('bash', [path.join(ROOT, 'scripts/base-images.sh')], 'base-images.log', 600000);
}

// The broker image under docker/compose.yml's name for it, and its build stage.
export async function ensureBrokerImage() {
  await ensureBaseImages();
  const compose = loadCompose();
  const image = compose.services.broker1.image;
  const dockerfile = path.join(ROOT, 'docker/Dockerfile');
  const stage = await build(BUILD_STAGE, dockerfile, ROOT, { target: 'build', logName: 'build-stage.log' });
  const full = await build(image, dockerfile, ROOT, { logName: 'image.log' });
  return { image, buildStage: BUILD_STAGE, seconds: stage.seconds + full.seconds, log: full.log };
}

// Local images under the compose file's names for redis and haproxy (no registry here).
export async function ensureServiceImages() {
  await ensureBaseImages();
  const { services } = loadCompose();
  const out = {};
  for (const name of ['redis', 'haproxy']) {
    const dir = path.join(ROOT, 'tests/container/images', name);
    await build(services[name].image, path.join(dir, 'Containerfile'), dir, { logName: `${name}.log` });
    out[name] = services[name].image;
  }
  return out;
}

export async function imageSize(tag) {
  return Number(await must(['image', 'inspect', '--format', '{{.Size}}', tag]));
}
