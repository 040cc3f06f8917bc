// Laravel Echo's Mercure flows in a real browser (Debian's Chromium through playwright-core),
// against the real binary (issue 19, "Browsers", "What Laravel sends, exactly"). A small app server
// on a second loopback origin plays Laravel: it serves the page and a /broadcasting/auth endpoint
// that sets the one at+jwt cookie its MercureBroadcaster sets (mercure_access_token on plain
// HTTP, Path = the hub path, HttpOnly, SameSite=Strict, 300 s; iss = the app URL, aud = the hub's
// public URL; subscribe on private topics, the presence topic plus the relative URL pattern of its
// subscription events with the member's payload, subscribe+publish on whisper topics). The page
// runs what Echo's mercure connector does (laravel/echo#549, read, not copied): one credentialed
// EventSource with a match= per channel and a match_urlpattern= per presence channel, the
// presence snapshot from GET <hub>/subscriptions/exact/<encoded topic>, `event: mercure`
// subscription events (members without a payload ignored), whispers POSTed to the hub with the
// cookie, and a reopen with last_event_id=. The server side publishes with an at+jwt token,
// private=on for guarded channels.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { launchChromium } from './lib/chromium.mjs';
import { Broker, HUB, freePort, jwt } from './lib/broker.mjs';

const DETAIL = 'https://mercure.rocks/authorization-detail';
const PREFIX = 'https://laravel.alt/echo/';
const COOKIE = 'mercure_access_token';
// rawurlencode(), as the broadcaster and the connector encode channel names and topics.
const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const channelTopic = (name) => `${PREFIX}channel/${enc(name)}`;
const whisperTopic = (name) => `${PREFIX}whisper/${enc(name)}`;

// Who may join what (the app's channel authorization callbacks).
const USERS = { alice: { id: 1 }, bob: { id: 2 }, carol: { id: 3 } };
const ACL = {
  alice: ['private-orders.1', 'presence-room.1', 'private-chat.1'],
  bob: ['presence-room.1', 'private-chat.1'],
  carol: [],
};

let broker, app, other, browser, APP, OTHER, RESOURCE;

function token(claims) {
  return jwt(claims, { header: { typ: 'at+jwt' } });
}

// The claims MercureBroadcaster::auth() mints for a user and a batch of channels: a detail per
// private channel, one per presence channel (its topic, the relative pattern of its subscription
// events and API, the member's payload), then one subscribe+publish detail with every whisper
// topic; a guest (or a user granted nothing) gets no authorization_details at all.
function subscriberClaims(user, names, ttl = 300) {
  const now = Math.floor(Date.now() / 1000);
  const granted = names.filter((n) => (n.startsWith('private-') || n.startsWith('presence-')) && ACL[user]?.includes(n));
  const details = [];
  for (const name of granted) {
    const topic = channelTopic(name);
    if (name.startsWith('presence-')) {
      details.push({
        type: DETAIL, actions: ['subscribe'],
        topics: [{ match: topic }, { match: `${HUB}/subscriptions/:match_type/${enc(topic)}{/:subscriber}?`, match_type: 'urlpattern' }],
        payload: { user_id: String(USERS[user].id), user_info: { id: USERS[user].id, name: user } },
      });
    } else {
      details.push({ type: DETAIL, actions: ['subscribe'], topics: [{ match: topic }] });
    }
  }
  if (granted.length) details.push({ type: DETAIL, actions: ['subscribe', 'publish'], topics: granted.map((n) => ({ match: whisperTopic(n) })) });
  return {
    iss: APP, client_id: APP, aud: RESOURCE, sub: USERS[user] ? String(USERS[user].id) : 'anonymous', iat: now,
    jti: crypto.randomUUID(), exp: now + ttl, ...(details.length ? { authorization_details: details } : {}),
  };
}

// The server side: MercureBroadcaster::broadcast() with its publisher token.
async function broadcast(name, event, payload, { id } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const publisher = token({
    iss: APP, client_id: APP, aud: RESOURCE, sub: 'app', iat: now, jti: crypto.randomUUID(), exp: now + 300,
    authorization_details: [{ type: DETAIL, actions: ['publish'], topics: [{ match: `${PREFIX}channel/*`, match_type: 'urlpattern' }] }],
  });
  // Public channels of one broadcast share an update (one topic each); a guarded one has its own.
  const names = [name].flat();
  const body = new URLSearchParams({ data: JSON.stringify({ channels: names, event, payload }) });
  for (const n of names) body.append('topic', channelTopic(n));
  if (names[0].startsWith('private-') || names[0].startsWith('presence-')) body.set('private', 'on');
  if (id) body.set('id', id);
  const res = await fetch(broker.url(), { method: 'POST', headers: { Authorization: `Bearer ${publisher}` }, body });
  assert.equal(res.status, 200, await res.clone().text());
  return res.text();
}

// What the page runs: Echo's connector reduced to the requests it makes and what it keeps.
const PAGE_SCRIPT = String.raw`
const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
window.echo = {
  hub: new URL(HUB_URL), user: USER, prefix: '', es: null, lastEventId: '',
  messages: [], mercure: [], members: {}, joined: [], left: [], whispers: [], snapshots: {},
  topic(name) { return this.prefix + 'channel/' + enc(name); },
  whisperTopic(name) { return this.prefix + 'whisper/' + enc(name); },
  subscriptionsPath() { return this.hub.pathname.replace(/\/$/, '') + '/subscriptions'; },
  nameOf(topic) {
    const ns = this.prefix + 'channel/';
    return topic.startsWith(ns) ? decodeURIComponent(topic.slice(ns.length)) : null;
  },
  async authenticate(channels, ttl) {
    const res = await fetch('/broadcasting/auth', { method: 'POST', credentials: 'include',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ channel_names: channels, user: this.user, ttl }) });
    const body = await res.json();
    this.prefix = body.topic_prefix;
    this.auths = (this.auths || 0) + 1;
    // The cookie is re-minted at 80 % of its life; the hub closes the stream at the old token's
    // exp and the browser reconnects by itself (Last-Event-ID) with the new cookie.
    clearTimeout(this.refreshTimer);
    if (this.es) this.refreshTimer = setTimeout(() => this.authenticate(channels, ttl), body.expires_in * 800);
    return body;
  },
  // Opens the one stream for these channels; resolves once open and every presence snapshot is in.
  async join(channels, { lastEventId = '', ttl } = {}) {
    this.es = this.es || 'opening';
    await this.authenticate(channels, ttl);
    const url = new URL(this.hub);
    for (const name of channels) url.searchParams.append('match', this.topic(name));
    for (const name of channels.filter((n) => n.startsWith('presence-')))
      url.searchParams.append('match_urlpattern', this.subscriptionsPath() + '/:match_type/' + enc(this.topic(name)) + '/:subscriber');
    if (lastEventId) url.searchParams.set('last_event_id', lastEventId);
    this.es?.close?.();
    const es = new EventSource(url, { withCredentials: true });
    this.es = es;
    es.addEventListener('open', () => { this.opens = (this.opens || 0) + 1; });
    es.addEventListener('error', () => { this.drops = (this.drops || 0) + 1; });
    es.onmessage = (e) => {
      this.lastEventId = e.lastEventId;
      const m = JSON.parse(e.data);
      this.messages.push({ id: e.lastEventId, channels: m.channels, event: m.event, payload: m.payload });
    };
    es.addEventListener('mercure', (e) => {
      this.lastEventId = e.lastEventId;
      const s = JSON.parse(e.data);
      this.mercure.push(s);
      if (s.match_type !== 'exact' || typeof s.active !== 'boolean') return;
      if (s.active && s.payload == null) return; // a subscriber without the grant: not a member
      const name = this.nameOf(s.match);
      if (!name || !this.members[name]) return;
      const room = this.members[name];
      if (s.active && !room.has(s.subscriber)) { room.set(s.subscriber, s.payload); this.joined.push(s.payload.user_info.name); }
      if (!s.active && room.has(s.subscriber)) { this.left.push(room.get(s.subscriber).user_info.name); room.delete(s.subscriber); }
    });
    await new Promise((resolve, reject) => {
      es.onopen = resolve;
      es.onerror = () => reject(new Error('EventSource failed'));
      setTimeout(() => reject(new Error('EventSource did not open')), 5000);
    });
    for (const name of channels.filter((n) => n.startsWith('presence-'))) {
      if (!this.members[name]) this.members[name] = new Map();
      const res = await fetch(this.hub.origin + this.subscriptionsPath() + '/exact/' + enc(this.topic(name)), { credentials: 'include' });
      if (!res.ok) throw new Error('snapshot: HTTP ' + res.status);
      const doc = await res.json();
      doc.link = res.headers.get('Link'); // exposed to this origin, or null
      this.snapshots[name] = doc;
      for (const s of doc.subscriptions)
        if (s.active && s.payload != null) this.members[name].set(s.subscriber, s.payload);
    }
  },
  memberNames(name) { return [...(this.members[name] || new Map()).values()].map((p) => p.user_info.name).sort(); },
  leave() { clearTimeout(this.refreshTimer); this.es?.close(); this.es = null; },
  // A whisper: a plain form POST to the hub with the cookie (a "simple" request, no preflight).
  async whisper(name, event, payload, topic) {
    const res = await fetch(this.hub.origin + this.hub.pathname, { method: 'POST', credentials: 'include',
      body: new URLSearchParams({ topic: topic || this.whisperTopic(name), private: 'on',
        data: JSON.stringify({ channels: [name], event: 'client-' + event, payload, socket: this.user }) }) });
    return { status: res.status, body: await res.text() };
  },
  async listenForWhispers(name) {
    const url = new URL(this.hub);
    url.searchParams.append('match', this.whisperTopic(name));
    const es = new EventSource(url, { withCredentials: true });
    es.onmessage = (e) => this.whispers.push(JSON.parse(e.data));
    await new Promise((resolve, reject) => { es.onopen = resolve; es.onerror = () => reject(new Error('whisper stream failed')); });
  },
};`;

function appServer() {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'GET' && url.pathname === '/') {
      const user = url.searchParams.get('user') || 'guest';
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>echo</title><script>const HUB_URL = ${JSON.stringify(broker.url())}; const USER = ${JSON.stringify(user)};${PAGE_SCRIPT}</script>`);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/broadcasting/auth') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const { channel_names: names, user, ttl = 300 } = JSON.parse(body);
      const cookie = token(subscriberClaims(user, names, ttl));
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Set-Cookie': `${COOKIE}=${cookie}; Path=${HUB}; Max-Age=${ttl}; HttpOnly; SameSite=Strict`,
      });
      res.end(JSON.stringify({
        expires_in: ttl, topic_prefix: PREFIX, client_events: true,
        channel_names: names.map((name) => ({ name, denied: !name.startsWith('private-') && !name.startsWith('presence-') ? undefined : !ACL[user]?.includes(name) })),
      }));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

before(async () => {
  app = await appServer();
  other = await appServer();
  APP = `http://127.0.0.1:${app.address().port}`;
  OTHER = `http://127.0.0.1:${other.address().port}`;
  const port = await freePort();
  RESOURCE = `http://127.0.0.1:${port}${HUB}`;
  broker = new Broker(['--workers', '2', '--subscriptions', '--resource-identifier', RESOURCE, '--jwt-issuer', APP,
    '--access-token-cookie', COOKIE, '--cors-origin', APP]);
  broker.fixedPort = port;
  await broker.start();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  app?.close();
  other?.close();
  await broker?.stop();
});

// A user's browser: its own cookie jar, the app's page.
async function userPage(user, origin = APP) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`[${user}] ${e.message}`));
  await page.goto(`${origin}/?user=${user}`);
  return { context, page, user };
}
const waitFor = (page, fn, arg) => page.waitForFunction(fn, arg, { timeout: 10000 });

test('the cookie is Laravel\'s: one at+jwt, HttpOnly, SameSite=Strict, Path = the hub path, read by the cross-origin hub', async () => {
  const a = await userPage('alice');
  await a.page.evaluate(() => window.echo.join(['news']));
  const cookies = await a.context.cookies(broker.url());
  assert.equal(cookies.length, 1);
  const [c] = cookies;
  assert.equal(c.name, COOKIE);
  assert.equal(c.path, HUB);
  assert.equal(c.httpOnly, true);
  assert.equal(c.sameSite, 'Strict');
  const [header, claims] = c.value.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url')));
  assert.equal(header.typ, 'at+jwt');
  assert.equal(claims.iss, APP);
  assert.equal(claims.aud, RESOURCE);
  assert.equal(claims.exp - claims.iat, 300);
  assert.equal(await a.page.evaluate(() => document.cookie), '', 'HttpOnly: the page cannot read it');
  assert.notEqual(new URL(APP).origin, new URL(broker.base).origin, 'the page and the hub are two origins');
  await a.context.close();
});

test('public channel: every subscriber gets the broadcast, a guest (token without authorization_details) too', async () => {
  const a = await userPage('alice');
  const c = await userPage('guest');
  await Promise.all([a, c].map((u) => u.page.evaluate(() => window.echo.join(['news']))));
  await broadcast('news', 'NewsPosted', { title: 'hello' });
  await broadcast(['weather', 'news'], 'Tick', { both: true });
  for (const u of [a, c]) {
    await waitFor(u.page, () => window.echo.messages.length >= 2);
    const got = await u.page.evaluate(() => window.echo.messages);
    assert.deepEqual(got.map((m) => [m.channels, m.event, m.payload]),
      [[['news'], 'NewsPosted', { title: 'hello' }], [['weather', 'news'], 'Tick', { both: true }]]);
  }
  await a.context.close();
  await c.context.close();
});

test('private channel: delivered only with the grant (private=on), whoever subscribes', async () => {
  const a = await userPage('alice');
  const c = await userPage('carol'); // subscribes to the same topic with a cookie that does not grant it
  await Promise.all([a, c].map((u) => u.page.evaluate(() => window.echo.join(['private-orders.1', 'news']))));
  await broadcast('private-orders.1', 'OrderShipped', { order: 1 });
  await broadcast('news', 'NewsPosted', { after: true });
  await waitFor(a.page, () => window.echo.messages.length >= 2);
  await waitFor(c.page, () => window.echo.messages.length >= 1);
  assert.deepEqual((await a.page.evaluate(() => window.echo.messages)).map((m) => m.event), ['OrderShipped', 'NewsPosted']);
  assert.deepEqual((await c.page.evaluate(() => window.echo.messages)).map((m) => m.event), ['NewsPosted']);
  await a.context.close();
  await c.context.close();
});

test('presence: snapshot with payloads, joining and leaving by event: mercure, members without a payload ignored', async () => {
  const room = 'presence-room.1';
  const a = await userPage('alice');
  await a.page.evaluate((r) => window.echo.join([r]), room);
  assert.deepEqual(await a.page.evaluate((r) => window.echo.memberNames(r), room), ['alice'], 'here(): the snapshot includes oneself');
  const snap = await a.page.evaluate((r) => window.echo.snapshots[r], room);
  assert.equal(snap.type, 'subscriptions');
  assert.match(snap.link, /; rel="mercure"; last-event-id="[^"]+"/, 'the cursor is readable cross-origin');
  assert.deepEqual(snap.subscriptions[0].payload, { user_id: '1', user_info: { id: 1, name: 'alice' } });

  const b = await userPage('bob');
  await b.page.evaluate((r) => window.echo.join([r]), room);
  await waitFor(a.page, () => window.echo.joined.includes('bob'));
  assert.deepEqual(await b.page.evaluate((r) => window.echo.memberNames(r), room), ['alice', 'bob']);
  assert.deepEqual(await a.page.evaluate((r) => window.echo.memberNames(r), room), ['alice', 'bob']);

  // Carol is not a member: her cookie has no presence grant, so her subscription has no payload.
  // Alice sees the event (her pattern grant covers the room's subscription events) and ignores it.
  const c = await userPage('carol');
  await c.page.evaluate((r) => window.echo.join([r]).catch((e) => e.message), room);
  await waitFor(a.page, () => window.echo.mercure.some((s) => s.match_type === 'exact' && s.active && s.payload === undefined));
  assert.deepEqual(await a.page.evaluate((r) => window.echo.memberNames(r), room), ['alice', 'bob']);
  // Nor can she read the room's subscriptions.
  const carolSnapshot = await c.page.evaluate(async (p) => (await fetch(p, { credentials: 'include' })).status,
    `${broker.base}${HUB}/subscriptions/exact/${enc(channelTopic(room))}`);
  assert.equal(carolSnapshot, 403);

  await b.page.evaluate(() => window.echo.leave());
  await waitFor(a.page, () => window.echo.left.includes('bob'));
  assert.deepEqual(await a.page.evaluate((r) => window.echo.memberNames(r), room), ['alice']);
  for (const u of [a, b, c]) await u.context.close();
});

test('whispers: a browser POST with the cookie from a listed origin reaches the channel; other topics and other origins are refused', async () => {
  const name = 'private-chat.1';
  const a = await userPage('alice');
  const b = await userPage('bob');
  await Promise.all([a, b].map((u) => u.page.evaluate((n) => window.echo.join([n]), name)));
  await b.page.evaluate((n) => window.echo.listenForWhispers(n), name);
  const sent = await a.page.evaluate((n) => window.echo.whisper(n, 'typing', { typing: true }), name);
  assert.equal(sent.status, 200);
  assert.ok(sent.body.length > 0, 'the answer is the update id');
  await waitFor(b.page, () => window.echo.whispers.length >= 1);
  assert.deepEqual(await b.page.evaluate(() => window.echo.whispers[0]),
    { channels: [name], event: 'client-typing', payload: { typing: true }, socket: 'alice' });

  // The cookie grants publish on the whisper topic only.
  const forged = await a.page.evaluate((n) => window.echo.whisper(n, 'typing', {}, window.echo.topic(n)), name);
  assert.equal(forged.status, 403);

  // The same cookie, sent by a page of another origin of the same site, which --cors-origin does
  // not list: refused (and the page cannot read the answer).
  const evil = await a.context.newPage();
  await evil.goto(`${OTHER}/?user=alice`);
  const outcome = await evil.evaluate(async (hub) => {
    try {
      await fetch(hub, { method: 'POST', credentials: 'include', body: new URLSearchParams({ topic: 'https://laravel.alt/echo/whisper/private-chat.1', data: 'evil', private: 'on' }) });
      return 'read';
    } catch {
      return 'blocked';
    }
  }, broker.url());
  assert.equal(outcome, 'blocked');
  const [cookie] = await a.context.cookies(broker.url());
  const direct = (origin) => fetch(broker.url(), { method: 'POST', headers: { Cookie: `${COOKIE}=${cookie.value}`, Origin: origin },
    body: new URLSearchParams({ topic: whisperTopic(name), data: JSON.stringify({ channels: [name], event: 'client-x', payload: origin }), private: 'on' }) });
  assert.equal((await direct(OTHER)).status, 403);
  assert.equal((await direct(APP)).status, 200);
  await waitFor(b.page, () => window.echo.whispers.length >= 2);
  assert.ok(!(await b.page.evaluate(() => window.echo.whispers)).some((w) => w === 'evil' || w.payload === OTHER));

  // An expired or missing cookie: the hub's 401 is readable cross-origin, so Echo re-authenticates
  // and retries once.
  await a.context.clearCookies();
  const retried = await a.page.evaluate(async (n) => {
    let res = await window.echo.whisper(n, 'typing', { again: true });
    const first = res.status;
    if (first === 401) {
      await window.echo.authenticate([n]);
      res = await window.echo.whisper(n, 'typing', { again: true });
    }
    return [first, res.status];
  }, name);
  assert.deepEqual(retried, [401, 200]);
  await waitFor(b.page, () => window.echo.whispers.some((w) => w.payload?.again));
  await a.context.close();
  await b.context.close();
});

test('reconnect: the stream reopened with last_event_id gets what it missed, once', async () => {
  const a = await userPage('alice');
  await a.page.evaluate(() => window.echo.join(['news', 'private-orders.1']));
  await broadcast('news', 'Tick', { n: 1 }, { id: 'echo-r1' });
  await waitFor(a.page, () => window.echo.messages.length >= 1);
  const last = await a.page.evaluate(() => { window.echo.leave(); return window.echo.lastEventId; });
  assert.equal(last, 'echo-r1');
  await broadcast('news', 'Tick', { n: 2 }, { id: 'echo-r2' });
  await broadcast('private-orders.1', 'Tick', { n: 3 }, { id: 'echo-r3' });
  await a.page.evaluate((id) => window.echo.join(['news', 'private-orders.1'], { lastEventId: id }), last);
  await broadcast('news', 'Tick', { n: 4 }, { id: 'echo-r4' });
  await waitFor(a.page, () => window.echo.messages.length >= 4);
  assert.deepEqual((await a.page.evaluate(() => window.echo.messages)).map((m) => m.id), ['echo-r1', 'echo-r2', 'echo-r3', 'echo-r4']);
  await a.context.close();
});

test('a short-lived cookie: re-minted at 80 %, the hub closes the stream at exp, the browser reconnects with the new one and misses nothing', async () => {
  const a = await userPage('alice');
  await a.page.evaluate(() => window.echo.join(['private-orders.1'], { ttl: 3 }));
  await broadcast('private-orders.1', 'Tick', { n: 1 }, { id: 'echo-exp-1' });
  await waitFor(a.page, () => window.echo.messages.length >= 1);
  // The cookie was refreshed (a second auth) and the first stream closed by the hub at exp.
  await waitFor(a.page, () => window.echo.auths >= 2 && window.echo.drops >= 1);
  // A private update after the close: it arrives only if the reconnection carried the new
  // cookie (the old one is gone with its Max-Age, and an anonymous stream gets no private update).
  await broadcast('private-orders.1', 'Tick', { n: 2 }, { id: 'echo-exp-2' });
  await waitFor(a.page, () => window.echo.opens >= 2 && window.echo.messages.length >= 2);
  assert.deepEqual((await a.page.evaluate(() => window.echo.messages)).map((m) => m.id), ['echo-exp-1', 'echo-exp-2']);
  await a.page.evaluate(() => window.echo.leave());
  await a.context.close();
});
