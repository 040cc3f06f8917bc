// Mercure 1.0 subscribe beside draft-07 (issue 19, "Subscribe (1.0)"; MERCURE-1.0.md Part B,
// section 2 rules 1-4): match / match_exact / *, the reserved match* namespace, value rules and
// limits, last_event_id, Mercure-Last-Event-ID, a request read per parameter, --dialects.
// Real clients: the eventsource npm package and raw sockets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import EventSource from 'eventsource';
import crypto from 'node:crypto';
import { Broker, RawSubscriber, HUB, rawRequest, jwt, DEV_KEY } from './lib/broker.mjs';

let broker;
before(async () => {
  broker = await new Broker(['--workers', '2', '--max-topics', '8', '--max-selector-bytes', '64']).start();
});
after(async () => { await broker.stop(); });

// Opens an EventSource and collects what its application sees: [id, data] per message.
function open(query, opts) {
  const es = new EventSource(broker.url(query), opts);
  const got = [];
  es.onmessage = (e) => got.push([e.lastEventId, e.data]);
  const opened = new Promise((resolve, reject) => { es.onopen = resolve; es.onerror = reject; });
  return { es, got, opened };
}

async function until(pred, what, timeout = 5000) {
  const deadline = Date.now() + timeout;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The status, headers and body of a subscribe that is refused (or the head of one that is not).
async function subscribe(query, headers = '') {
  const out = await rawRequest(broker.port,
    `GET ${HUB}${query} HTTP/1.1\r\nHost: a\r\n${headers}Connection: close\r\n\r\n`,
    { until: /\r\n\r\n/, timeout: 3000 });
  const end = out.indexOf('\r\n\r\n');
  const head = out.slice(0, end);
  const status = Number(head.split(' ')[1]);
  const header = (name) => {
    const m = head.match(new RegExp(`^${name}: (.*)$`, 'mi'));
    return m ? m[1] : null;
  };
  let body = out.slice(end + 4);
  if (status !== 200) {
    // Read the whole answer: the reason text follows the head.
    const full = await rawRequest(broker.port,
      `GET ${HUB}${query} HTTP/1.1\r\nHost: a\r\n${headers}Connection: close\r\n\r\n`);
    body = full.slice(full.indexOf('\r\n\r\n') + 4);
  }
  return { status, header, body, head };
}

test('a draft-07 subscriber (topic=) and a 1.0 subscriber (match=) of one topic get the same update with the same id', async () => {
  const topic = 'https://example.com/books/1';
  const d07 = open(`?topic=${encodeURIComponent(topic)}`);
  const d08 = open(`?match=${encodeURIComponent(topic)}`);
  try {
    await Promise.all([d07.opened, d08.opened]);
    const pub = await broker.publish({ topic, data: 'one book' });
    assert.equal(pub.status, 200);
    const id = pub.body;
    await until(() => d07.got.length && d08.got.length, 'both subscribers');
    assert.deepEqual(d07.got, [[id, 'one book']]);
    assert.deepEqual(d08.got, [[id, 'one book']]);
  } finally {
    d07.es.close();
    d08.es.close();
  }
});

test('match is byte-exact: braces are text, case and spelling matter, nothing is resolved', async () => {
  const tmpl = 'https://example.com/shelf/{id}';
  const exact = new RawSubscriber(broker.port, `?match=${encodeURIComponent(tmpl)}`);
  const explicit = new RawSubscriber(broker.port, `?match_exact=${encodeURIComponent(tmpl)}`);
  const template = new RawSubscriber(broker.port, `?topic=${encodeURIComponent(tmpl)}`);
  const relative = new RawSubscriber(broker.port, '?match=/shelf/1');
  try {
    await Promise.all([exact.ready(), explicit.ready(), template.ready(), relative.ready()]);
    await broker.publish({ topic: 'https://example.com/shelf/1', id: 'shelf-1' });
    await broker.publish({ topic: 'https://EXAMPLE.com/shelf/{id}', id: 'shelf-upper' });
    await broker.publish({ topic: tmpl, id: 'shelf-literal' });
    await template.waitFor((s) => s.events.some((e) => e.id === 'shelf-literal'));
    await exact.waitFor((s) => s.events.some((e) => e.id === 'shelf-literal'));
    await explicit.waitFor((s) => s.events.some((e) => e.id === 'shelf-literal'));
    // The URI template matches its expansion (and its own text, as draft-07 says).
    assert.deepEqual(template.events.map((e) => e.id), ['shelf-1', 'shelf-literal']);
    // The exact matchers only the topic spelt byte for byte like them.
    assert.deepEqual(exact.events.map((e) => e.id), ['shelf-literal']);
    assert.deepEqual(explicit.events.map((e) => e.id), ['shelf-literal']);
    assert.equal(relative.events.length, 0, 'a relative exact matcher is not resolved against the hub');
  } finally {
    for (const s of [exact, explicit, template, relative]) s.close();
  }
});

test('match=* receives every topic', async () => {
  const all = open('?match=*');
  try {
    await all.opened;
    await broker.publish({ topic: 'star-a', id: 'star-1', data: 'a' });
    await broker.publish({ topic: 'https://example.com/star/b', id: 'star-2', data: 'b' });
    await until(() => all.got.length >= 2, 'two updates');
    assert.deepEqual(all.got.filter(([id]) => id.startsWith('star-')), [['star-1', 'a'], ['star-2', 'b']]);
  } finally {
    all.es.close();
  }
});

test('a mixed request gets the union, each update once', async () => {
  const mixed = new RawSubscriber(broker.port,
    `?topic=${encodeURIComponent('https://example.com/mix/{n}')}&match=mix-exact&topic=mix-both&match=mix-both`);
  try {
    await mixed.ready();
    assert.match(mixed.headers, /^HTTP\/1.1 200/);
    await broker.publish({ topic: 'https://example.com/mix/7', id: 'mix-1' });
    await broker.publish({ topic: 'mix-exact', id: 'mix-2' });
    await broker.publish({ topic: 'mix-both', id: 'mix-3' });
    await broker.publish({ topic: 'mix-other', id: 'mix-4' });
    await broker.publish({ topic: ['mix-exact', 'mix-both'], id: 'mix-5' });
    await mixed.waitFor((s) => s.events.some((e) => e.id === 'mix-5'));
    assert.deepEqual(mixed.events.map((e) => e.id), ['mix-1', 'mix-2', 'mix-3', 'mix-5']);
    // The same through replay.
    const resumed = new RawSubscriber(broker.port,
      `?topic=${encodeURIComponent('https://example.com/mix/{n}')}&match=mix-exact&topic=mix-both&match=mix-both&last_event_id=mix-1`);
    try {
      await resumed.waitFor((s) => s.events.some((e) => e.id === 'mix-5'));
      assert.deepEqual(resumed.events.map((e) => e.id), ['mix-2', 'mix-3', 'mix-5']);
    } finally {
      resumed.close();
    }
  } finally {
    mixed.close();
  }
});

test('last_event_id replays what followed, to an EventSource; the header wins; lastEventID still works', async () => {
  for (const id of ['lei-1', 'lei-2', 'lei-3']) await broker.publish({ topic: 'lei', id, data: id });
  const byParam = open('?match=lei&last_event_id=lei-1');
  const legacy = open('?topic=lei&lastEventID=lei-2');
  const headerWins = new RawSubscriber(broker.port, '?match=lei&last_event_id=lei-1', { 'Last-Event-ID': 'lei-2' });
  try {
    await until(() => byParam.got.length >= 2 && legacy.got.length >= 1, 'the replays');
    await headerWins.waitFor((s) => s.events.length >= 1);
    assert.deepEqual(byParam.got.map(([id]) => id), ['lei-2', 'lei-3']);
    assert.deepEqual(legacy.got.map(([id]) => id), ['lei-3']);
    assert.deepEqual(headerWins.events.map((e) => e.id), ['lei-3']);
    assert.match(headerWins.headers, /^Mercure-Last-Event-ID: lei-2$/m);
    // Then live, with no gap.
    await broker.publish({ topic: 'lei', id: 'lei-4', data: 'live' });
    await until(() => byParam.got.length >= 3, 'the live update');
    assert.deepEqual(byParam.got.at(-1), ['lei-4', 'live']);
  } finally {
    byParam.es.close();
    legacy.es.close();
    headerWins.close();
  }
});

test('the answer carries Mercure-Last-Event-ID and Last-Event-ID whenever an id was asked for', async () => {
  await broker.publish({ topic: 'hdr', id: 'hdr-1' });
  await broker.publish({ topic: 'hdr', id: 'hdr-2' });
  const known = await subscribe('?match=hdr&last_event_id=hdr-1');
  assert.equal(known.status, 200);
  assert.equal(known.header('Mercure-Last-Event-ID'), 'hdr-1');
  assert.equal(known.header('Last-Event-ID'), 'hdr-1');
  // A draft-07 request gets both too.
  const d07 = await subscribe('?topic=hdr', 'Last-Event-ID: hdr-2\r\n');
  assert.equal(d07.header('Mercure-Last-Event-ID'), 'hdr-2');
  assert.equal(d07.header('Last-Event-ID'), 'hdr-2');
  // An unknown id: replay starts at the oldest, and the answer says so.
  const unknown = await subscribe('?match=hdr&last_event_id=never-published');
  assert.equal(unknown.header('Mercure-Last-Event-ID'), 'earliest');
  assert.equal(unknown.header('Last-Event-ID'), 'earliest');
  // Present but empty: no replay; the stream starts after the newest update.
  await broker.publish({ topic: 'hdr', id: 'hdr-newest' });
  const empty = await subscribe('?match=hdr&last_event_id=');
  assert.equal(empty.header('Mercure-Last-Event-ID'), 'hdr-newest');
  assert.equal(empty.header('Last-Event-ID'), 'hdr-newest');
  // In a 1.0 request an empty header is an id asked for too; a draft-07 request answers an empty
  // id with no header, as it always did.
  const emptyHeader = await subscribe('?match=hdr', 'Last-Event-ID: \r\n');
  assert.equal(emptyHeader.header('Mercure-Last-Event-ID'), 'hdr-newest');
  const emptyHeader07 = await subscribe('?topic=hdr', 'Last-Event-ID: \r\n');
  assert.equal(emptyHeader07.status, 200);
  assert.equal(emptyHeader07.header('Mercure-Last-Event-ID'), null);
  assert.equal(emptyHeader07.header('Last-Event-ID'), null);
  // HEAD answers the same head.
  const head = await rawRequest(broker.port,
    `HEAD ${HUB}?match=hdr&last_event_id=hdr-1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
  assert.match(head, /^Mercure-Last-Event-ID: hdr-1\r$/m);
  assert.match(head, /^Last-Event-ID: hdr-1\r$/m);
  // No id asked for: neither header.
  const none = await subscribe('?match=hdr');
  assert.equal(none.status, 200);
  assert.equal(none.header('Mercure-Last-Event-ID'), null);
  assert.equal(none.header('Last-Event-ID'), null);
});

const UNKNOWN = 'Unknown matcher parameter: use "match", "match_exact" or "match_urlpattern".';
const BAD_VALUE = 'Invalid "match" value: invalid UTF-8, control or format characters.';
const refused = [
  ['?matchURLPattern=x', UNKNOWN, 'an older draft\'s spelling'],
  ['?match_regexp=x', UNKNOWN, 'a matcher type the hub does not know'],
  ['?MATCH=x', UNKNOWN, 'names are case-sensitive, the namespace is not'],
  ['?Match_Exact=x', UNKNOWN, 'names are case-sensitive, the namespace is not'],
  ['?topic=ok&matches=x', UNKNOWN, 'an unrelated parameter in the reserved namespace'],
  ['?match=a%01b', BAD_VALUE, 'C0'],
  ['?match=a%7Fb', BAD_VALUE, 'DEL'],
  ['?match=a%C2%85b', BAD_VALUE, 'C1 (NEL)'],
  ['?match=a%E2%80%8Bb', BAD_VALUE, 'Cf: zero-width space'],
  ['?match=a%E2%80%AEb', BAD_VALUE, 'Cf: right-to-left override'],
  ['?match=%EF%BB%BFa', BAD_VALUE, 'Cf: byte order mark'],
  ['?match=a%FFb', BAD_VALUE, 'not UTF-8'],
  ['?match=', 'Invalid "match" value: empty.', 'empty'],
  [`?match=${'x'.repeat(65)}`, 'Matcher value too long.', 'over --max-selector-bytes'],
  [`?${Array.from({ length: 9 }, (_, i) => `match=m${i}`).join('&')}`, 'Too many "match" parameters.', 'over --max-topics'],
  [`?${Array.from({ length: 5 }, (_, i) => `topic=t${i}`).join('&')}&${Array.from({ length: 4 }, (_, i) => `match=m${i}`).join('&')}`,
    'Too many "match" parameters.', 'the limit counts both dialects'],
  ['?match_urlpattern=', 'Invalid "match" value: empty.', 'an empty URL Pattern'],
  ['?match_urlpattern=a%E2%80%8Bb', BAD_VALUE, 'Cf in a URL Pattern'],
  ['?last_event_id=x', 'Missing "topic" parameter.', 'no selector at all'],
];
for (const [query, reason, why] of refused) {
  test(`400 ${why}: ${query.slice(0, 60)}`, async () => {
    const r = await subscribe(query);
    assert.equal(r.status, 400);
    assert.equal(r.body, reason);
  });
}

test('values that are fine: non-ASCII text, a percent sign, a plus, a long but allowed value', async () => {
  for (const value of ['https://example.com/été/1', 'a%b', 'a+b', 'x'.repeat(64), '日本']) {
    const r = await subscribe(`?match=${encodeURIComponent(value)}`);
    assert.equal(r.status, 200, value);
  }
});

test('--dialects 08 refuses topic=, --dialects 07 refuses match=, each with a reason', async () => {
  const only08 = await new Broker(['--dialects', '08']).start();
  const only07 = await new Broker(['--dialects', '07']).start();
  try {
    const ask = async (b, q) => {
      const out = await rawRequest(b.port, `GET ${HUB}${q} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, { timeout: 2000 });
      return { status: Number(out.split(' ')[1]), body: out.slice(out.indexOf('\r\n\r\n') + 4) };
    };
    let r = await ask(only08, '?topic=a');
    assert.equal(r.status, 400);
    assert.equal(r.body, 'The draft-07 "topic" parameter is switched off on this hub (--dialects 08): use "match".');
    r = await ask(only08, '?last_event_id=x');
    assert.equal(r.body, 'Missing "match" parameter.');
    r = await ask(only07, '?match=a');
    assert.equal(r.status, 400);
    assert.equal(r.body, 'Mercure 1.0 "match" parameters are switched off on this hub (--dialects 07): use "topic".');
    const ok08 = await rawRequest(only08.port, `GET ${HUB}?match=a HTTP/1.1\r\nHost: a\r\n\r\n`, { until: /\r\n\r\n/, timeout: 2000 });
    assert.match(ok08, /^HTTP\/1.1 200/);
    const ok07 = await rawRequest(only07.port, `GET ${HUB}?topic=a HTTP/1.1\r\nHost: a\r\n\r\n`, { until: /\r\n\r\n/, timeout: 2000 });
    assert.match(ok07, /^HTTP\/1.1 200/);
  } finally {
    await only08.stop();
    await only07.stop();
  }
});

// URL Pattern matchers (match_urlpattern), as the upstream conformance suite at 192faaa uses them
// ("URL pattern", "nonmatching URL pattern", "private URL pattern") and beyond.
test('match_urlpattern: the conformance rows (matching, nonmatching, private to an anonymous subscriber)', async () => {
  const sub = open(`?match_urlpattern=${encodeURIComponent('https://example.net/foo/:random')}`);
  const other = open(`?match_urlpattern=${encodeURIComponent('https://example.net/bar/:var')}`);
  try {
    await Promise.all([sub.opened, other.opened]);
    const data = 'data for\n\n        URL pattern';
    await broker.publish({ topic: 'https://example.net/foo/will-not-match-private', id: 'up-priv', data: 'secret', private: 'on' });
    await broker.publish({ topic: 'https://example.net/foo/R4', id: 'id-["https://example.net/foo/R4"]', data });
    await broker.publish({ topic: 'https://example.net/foo/will-not-match', id: 'up-3', data: 'x' });
    await until(() => sub.got.length >= 2, 'two updates');
    assert.deepEqual(sub.got, [['id-["https://example.net/foo/R4"]', data], ['up-3', 'x']]);
    assert.equal(other.got.length, 0);
  } finally {
    sub.es.close();
    other.es.close();
  }
});

test('match_urlpattern: components, regexp groups, *, and a topic that is not a URL', async () => {
  const path = new RawSubscriber(broker.port, `?match_urlpattern=${encodeURIComponent('https://example.com/books/:id')}`);
  const regexp = new RawSubscriber(broker.port, `?match_urlpattern=${encodeURIComponent('https://example.com/books/(\\d+)')}`);
  const star = new RawSubscriber(broker.port, '?match_urlpattern=*');
  try {
    await Promise.all([path.ready(), regexp.ready(), star.ready()]);
    await broker.publish({ topic: 'https://example.com/books/12?x=y#z', id: 'upc-1' }); // search and hash are *
    await broker.publish({ topic: 'https://example.com/books/ab', id: 'upc-2' });
    await broker.publish({ topic: 'https://example.com/books/1/2', id: 'upc-3' }); // :id is one segment
    await broker.publish({ topic: 'https://example.com:8443/books/1', id: 'upc-4' }); // port "" only
    await broker.publish({ topic: 'http://[::1/books/1', id: 'upc-5' }); // not a URL: matches no pattern
    await broker.publish({ topic: 'https://example.com/books/7', id: 'upc-6' });
    await star.waitFor((s) => s.events.some((e) => e.id === 'upc-6'));
    await path.waitFor((s) => s.events.some((e) => e.id === 'upc-6'));
    await regexp.waitFor((s) => s.events.some((e) => e.id === 'upc-6'));
    assert.deepEqual(path.events.map((e) => e.id), ['upc-1', 'upc-2', 'upc-6']);
    assert.deepEqual(regexp.events.map((e) => e.id), ['upc-1', 'upc-6']);
    assert.deepEqual(star.events.filter((e) => e.id.startsWith('upc-')).map((e) => e.id), ['upc-1', 'upc-2', 'upc-3', 'upc-4', 'upc-5', 'upc-6']);
  } finally {
    for (const s of [path, regexp, star]) s.close();
  }
});

test('match_urlpattern and topic= of one update: the same id; replay by last_event_id goes through the pattern', async () => {
  const d07 = open(`?topic=${encodeURIComponent('https://example.org/r/{id}')}`);
  const d08 = open(`?match_urlpattern=${encodeURIComponent('https://example.org/r/:id')}`);
  try {
    await Promise.all([d07.opened, d08.opened]);
    const first = await broker.publish({ topic: 'https://example.org/r/1', data: 'one' });
    await broker.publish({ topic: 'https://example.org/s/1', data: 'elsewhere' });
    const second = await broker.publish({ topic: 'https://example.org/r/2', data: 'two' });
    await until(() => d07.got.length >= 2 && d08.got.length >= 2, 'both subscribers');
    assert.deepEqual(d08.got, d07.got);
    assert.deepEqual(d08.got.map(([id]) => id), [first.body, second.body]);
    const resumed = new RawSubscriber(broker.port,
      `?match_urlpattern=${encodeURIComponent('https://example.org/r/:id')}&last_event_id=${encodeURIComponent(first.body)}`);
    try {
      await resumed.waitFor((s) => s.events.length >= 1);
      assert.deepEqual(resumed.events.map((e) => e.id), [second.body]);
      assert.match(resumed.headers, new RegExp(`^Mercure-Last-Event-ID: ${first.body}\r?$`, 'm'));
    } finally {
      resumed.close();
    }
  } finally {
    d07.es.close();
    d08.es.close();
  }
});

test('match_urlpattern: a pattern that does not compile, and one over --max-urlpattern-cost, are 400s', async () => {
  const bad = await subscribe(`?match_urlpattern=${encodeURIComponent('https://example.com/books/(')}`);
  assert.equal(bad.status, 400);
  assert.match(bad.body, /^Invalid "match_urlpattern" value: .+\.$/);
  const dup = await subscribe(`?match_urlpattern=${encodeURIComponent('https://example.com/:x/:x')}`);
  assert.equal(dup.status, 400);
  assert.equal(dup.body, 'Invalid "match_urlpattern" value: a group name is used twice.');
  const small = await new Broker(['--max-urlpattern-cost', '40']).start();
  try {
    const ask = async (q) => {
      const out = await rawRequest(small.port, `GET ${HUB}${q} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, { until: /\r\n\r\n/, timeout: 2000 });
      return { status: Number(out.split(' ')[1]), body: out.slice(out.indexOf('\r\n\r\n') + 4) };
    };
    assert.equal((await ask(`?match_urlpattern=${encodeURIComponent('https://example.com/books/:id')}`)).status, 200);
    const over = await ask(`?match_urlpattern=${encodeURIComponent('https://example.com/books/(\\d+)')}`);
    assert.equal(over.status, 400);
    const full = await rawRequest(small.port, `GET ${HUB}?match_urlpattern=${encodeURIComponent('https://example.com/books/(\\d+)')} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    assert.equal(full.slice(full.indexOf('\r\n\r\n') + 4), 'URL patterns too complex.');
  } finally {
    await small.stop();
  }
});

test('match_urlpattern: relative patterns and topics resolve against --resource-identifier', async () => {
  const hub = await new Broker(['--resource-identifier', 'https://hub.example/.well-known/mercure']).start();
  try {
    const sub = new RawSubscriber(hub.port, `?match_urlpattern=${encodeURIComponent('/books/:id')}`);
    const sibling = new RawSubscriber(hub.port, `?match_urlpattern=${encodeURIComponent('foo')}`);
    try {
      await Promise.all([sub.ready(), sibling.ready()]);
      await hub.publish({ topic: 'https://hub.example/books/1', id: 'rel-1' });
      await hub.publish({ topic: '/books/2', id: 'rel-2' });
      await hub.publish({ topic: 'https://other.example/books/3', id: 'rel-3' });
      await hub.publish({ topic: 'https://hub.example/.well-known/foo', id: 'rel-4' });
      await hub.publish({ topic: 'https://hub.example/books/4', id: 'rel-5' });
      await sub.waitFor((s) => s.events.some((e) => e.id === 'rel-5'));
      assert.deepEqual(sub.events.map((e) => e.id), ['rel-1', 'rel-2', 'rel-5']);
      // "foo" against the hub URL is /.well-known/foo.
      await sibling.waitFor((s) => s.events.length >= 1);
      assert.deepEqual(sibling.events.map((e) => e.id), ['rel-4']);
    } finally {
      sub.close();
      sibling.close();
    }
  } finally {
    await hub.stop();
  }
});

// Publishing (MERCURE-1.0.md section 2, rule 8): the validation is the union of both drafts for
// every publisher, since both kinds of subscriber read the same updates; the status codes follow
// the token's dialect (1.0: a limit is 413 and a reserved topic 400; draft-07: 400 and 403).
const RESOURCE = 'https://hub.example/.well-known/mercure';
const ISSUER = 'https://app.example';
function at(details) {
  const now = Math.floor(Date.now() / 1000);
  return jwt({ iss: ISSUER, aud: RESOURCE, sub: '1', exp: now + 300, jti: crypto.randomUUID(), authorization_details: details },
    { key: DEV_KEY, header: { typ: 'at+jwt' } });
}
const PUBLISH_08 = at([{ type: 'https://mercure.rocks/authorization-detail', actions: ['publish'], topics: [{ match: '*' }] }]);

test('publish: both drafts\' rules for every publisher, status codes by the token\'s dialect', async () => {
  const hub = await new Broker(['--resource-identifier', RESOURCE, '--jwt-issuer', ISSUER,
    '--max-topics', '4', '--max-selector-bytes', '64']).start();
  try {
    const both = async (fields, want07, want08, reason) => {
      const r07 = await hub.publish(fields);
      const r08 = await hub.publish(fields, { token: PUBLISH_08 });
      assert.equal(r07.status, want07, `draft-07 token: ${JSON.stringify(fields)} ${r07.body}`);
      assert.equal(r08.status, want08, `1.0 token: ${JSON.stringify(fields)} ${r08.body}`);
      if (reason) {
        assert.match(r07.body, reason);
        assert.match(r08.body, reason);
      }
    };
    // Refused for everyone with 400.
    await both({ topic: '*' }, 400, 400, /"\*" is reserved/);
    await both({ topic: 'a', type: 'mercure' }, 400, 400, /"mercure" is reserved/);
    await both({ topic: 'a', id: 'earliest' }, 400, 400, /"earliest" is reserved/);
    await both({ topic: 'a', id: 'x\u200by' }, 400, 400, /^Invalid "id": control or format characters\.$/);
    await both({ topic: 'a', id: 'x\u0085y' }, 400, 400, /^Invalid "id"/);
    await both({ topic: 'a', id: 'x\ty' }, 400, 400, /^Invalid "id"/);
    await both({ topic: 'a', type: 'x\u202ey' }, 400, 400, /^Invalid "type": control or format characters\.$/);
    await both({ topic: '\ufeffa' }, 400, 400, /^Invalid topic/);
    await both({ topic: ['a', 'b\u200d'] }, 400, 400, /^Invalid topic/);
    await both({ topic: 'a', id: '#frag' }, 400, 400, /^Invalid "id"/);
    // The reserved namespace by the resolved path, whatever the scheme and host: 403 / 400.
    for (const topic of [
      'https://any.example/.well-known/mercure/subscriptions/x/y',
      'https://hub.example/.well-known/%6Dercure/subscriptions/x',
      'https://hub.example/.well-known/mercure/../mercure/x',
      'https://hub.example/.well-known/x/%2e%2e/mercure',
      'other://host/.well-known/mercure',
      'mercure/subscriptions/x', // relative: resolved against the hub's URL
      '/.well-known/mercure',
    ]) await both({ topic }, 403, 400, /reserved/);
    // Neighbours that are not the hub's path.
    for (const topic of [
      'https://hub.example/.well-known/mercure-rocks',
      'https://hub.example/.well-known/Mercure/x',
      'urn:example:/.well-known/mercure',
      'mercurey',
    ]) await both({ topic, data: 'x' }, 200, 200);
    // Limits: 413 for a 1.0 token, 400 as before for draft-07.
    await both({ topic: ['a', 'b', 'c', 'd', 'e'] }, 400, 413, /Too many "topic" parameters/);
    await both({ topic: 'x'.repeat(65) }, 400, 413, /Topic too long/);
    await both({ topic: 'a', id: 'i'.repeat(1025) }, 400, 413, /^Invalid "id"/);
  } finally {
    await hub.stop();
  }
});
