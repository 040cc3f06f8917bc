// docker/compose.yml as data: parsed with Debian's python3-yaml (anchors and merge keys
// included) and interpolated the way compose does with no variables set (${VAR:-default} gives
// the default), so tests run the file's own images, commands, environment and limits.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './podman.mjs';

export const COMPOSE_FILE = path.join(ROOT, 'docker/compose.yml');
export const COMPOSE_DIR = path.dirname(COMPOSE_FILE);

function interpolate(v, vars) {
  if (typeof v === 'string') {
    return v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (_, name, def) => vars[name] ?? def ?? '');
  }
  if (Array.isArray(v)) return v.map((x) => interpolate(x, vars));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x, vars)]));
  return v;
}

export function loadCompose(vars = {}) {
  const py = 'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)';
  const r = spawnSync('python3', ['-c', py, COMPOSE_FILE], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot parse ${COMPOSE_FILE}: ${r.stderr}`);
  return interpolate(JSON.parse(r.stdout), vars);
}

// A service's environment as an object (compose allows a map or a list of NAME=value).
export function environment(service) {
  const env = service.environment || {};
  if (!Array.isArray(env)) return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v == null ? '' : String(v)]));
  return Object.fromEntries(env.map((e) => { const i = e.indexOf('='); return [e.slice(0, i), e.slice(i + 1)]; }));
}

// podman run options for a service's healthcheck: test (CMD or CMD-SHELL), interval, timeout, retries.
export function healthArgs(service, rewriteTest = (t) => t) {
  const h = service.healthcheck;
  if (!h) return [];
  let test = h.test;
  if (Array.isArray(test) && test[0] === 'CMD') test = JSON.stringify(rewriteTest(test.slice(1)));
  else if (Array.isArray(test) && test[0] === 'CMD-SHELL') test = test[1];
  const args = ['--health-cmd', test];
  if (h.interval) args.push('--health-interval', h.interval);
  if (h.timeout) args.push('--health-timeout', h.timeout);
  if (h.retries) args.push('--health-retries', String(h.retries));
  return args;
}

// podman run options for a service's ulimits (compose: a number, or { soft, hard }). Any --ulimit
// replaces every default of containers.conf, so the limits compose leaves unset keep this
// machine's (podman's own default for nproc is more than a process here may set).
const MACHINE_ULIMITS = { nofile: { soft: 20000, hard: 20000 }, nproc: { soft: 32768, hard: 32768 } };
export function ulimitArgs(service) {
  if (!service.ulimits) return [];
  return Object.entries({ ...MACHINE_ULIMITS, ...service.ulimits }).flatMap(([name, v]) => {
    const [soft, hard] = typeof v === 'object' ? [v.soft, v.hard] : [v, v];
    return ['--ulimit', `${name}=${soft}:${hard}`];
  });
}
