'use strict';
// A textbook Node.js Server-Sent Events hub with express, used as a benchmark peer.
// It speaks the Mercure paths without authorization:
//   GET  /.well-known/mercure?topic=<selector>[&topic=...]   -> text/event-stream
//   POST /.well-known/mercure  (form: topic=...[&topic=...]&data=...[&id=...][&type=...])
//        -> 200 text/plain with the event id
// Selectors: "*", exact topics, and URI templates ({var} matches one path segment).
// usage: node hub.js [--port N] [--host ADDR]   (or PORT / HOST in the environment)

const crypto = require('crypto');
const express = require('express');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(arg('port', process.env.PORT || 3000));
const host = arg('host', process.env.HOST || '127.0.0.1');
const heartbeatMs = Number(process.env.HEARTBEAT_MS || 15000);

const exact = new Map(); // topic -> Set of subscribers
const patterns = new Set(); // subscribers with at least one template or "*" selector

function templateToRegExp(selector) {
  const escaped = selector.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
  return new RegExp('^' + escaped.replace(/\{[^}]*\}/g, '[^/?#]*') + '$');
}

function asList(v) {
  if (v === undefined) return [];
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

const app = express();
app.disable('x-powered-by');
app.disable('etag');

app.get('/.well-known/mercure', (req, res) => {
  const selectors = asList(req.query.topic);
  if (selectors.length === 0) {
    res.status(400).type('text/plain').send('Missing "topic" parameter.');
    return;
  }
  const sub = { res, regexps: [] };
  for (const s of selectors) {
    if (s === '*') sub.regexps.push(/^/);
    else if (s.includes('{')) sub.regexps.push(templateToRegExp(s));
    else {
      if (!exact.has(s)) exact.set(s, new Set());
      exact.get(s).add(sub);
    }
  }
  if (sub.regexps.length > 0) patterns.add(sub);

  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.write(':\n\n');

  req.on('close', () => {
    for (const s of selectors) {
      const set = exact.get(s);
      if (set) {
        set.delete(sub);
        if (set.size === 0) exact.delete(s);
      }
    }
    patterns.delete(sub);
  });
});

app.post('/.well-known/mercure', express.urlencoded({ extended: false, limit: '1mb' }), (req, res) => {
  const topics = asList(req.body.topic);
  if (topics.length === 0) {
    res.status(400).type('text/plain').send('Missing "topic" parameter.');
    return;
  }
  const id = req.body.id ? String(req.body.id) : `urn:uuid:${crypto.randomUUID()}`;
  let msg = `id: ${id}\n`;
  if (req.body.type) msg += `event: ${String(req.body.type).replace(/[\r\n]/g, '')}\n`;
  for (const line of String(req.body.data ?? '').split(/\r\n|\r|\n/)) msg += `data: ${line}\n`;
  msg += '\n';

  const targets = new Set();
  for (const t of topics) {
    const set = exact.get(t);
    if (set) for (const sub of set) targets.add(sub);
  }
  for (const sub of patterns) {
    if (!targets.has(sub) && sub.regexps.some((re) => topics.some((t) => re.test(t)))) {
      targets.add(sub);
    }
  }
  for (const sub of targets) sub.res.write(msg);
  res.type('text/plain').send(id);
});

app.get('/healthz', (req, res) => res.type('text/plain').send('ok\n'));

setInterval(() => {
  const seen = new Set();
  for (const set of exact.values()) for (const sub of set) seen.add(sub);
  for (const sub of patterns) seen.add(sub);
  for (const sub of seen) sub.res.write(':\n\n');
}, heartbeatMs).unref();

const server = app.listen(port, host, () => {
  console.error(`node hub listening on ${host}:${port}`);
});
server.keepAliveTimeout = 75000;
server.headersTimeout = 80000;

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
