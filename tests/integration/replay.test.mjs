// History replay: Last-Event-ID (header and query), earliest, unknown ids, and a real client that
// reconnects after the broker closes its stream and gets exactly what it missed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import EventSource from 'eventsource';
import { Broker, RawSubscriber, sleep } from './lib/broker.mjs';

let broker;
before(async () => {
  broker = await new Broker(['--workers', '2', '--stream-lifetime', '1500ms', '--retry-hint', '100ms']).start();
  for (let i = 1; i <= 5; i++) await broker.publish({ topic: i % 2 ? 'odd' : 'even', data: `v${i}`, id: `r${i}` });
});
after(async () => { await broker.stop(); });

test('Last-Event-ID header replays every later matching update, then goes live', async () => {
  const sub = new RawSubscriber(broker.port, '?topic=odd&topic=even', { 'Last-Event-ID': 'r2' });
  await sub.waitFor((s) => s.events.length === 3);
  assert.deepEqual(sub.events.map((e) => e.id), ['r3', 'r4', 'r5']);
  assert.match(sub.headers, /\r\nLast-Event-ID: r2(\r\n|$)/);
  await broker.publish({ topic: 'odd', data: 'live', id: 'r-live-1' });
  await sub.waitFor((s) => s.events.length === 4);
  assert.equal(sub.events[3].id, 'r-live-1');
  sub.close();
});

test('lastEventID query parameter; the header wins over it', async () => {
  const q = new RawSubscriber(broker.port, '?topic=odd&lastEventID=r1');
  await q.waitFor((s) => s.events.length >= 2);
  assert.deepEqual(q.events.slice(0, 2).map((e) => e.id), ['r3', 'r5']);
  const both = new RawSubscriber(broker.port, '?topic=odd&lastEventID=r1', { 'Last-Event-ID': 'r3' });
  await both.waitFor((s) => s.events.length >= 1);
  await sleep(150);
  assert.equal(both.events[0].id, 'r5');
  const draft = new RawSubscriber(broker.port, '?topic=odd&Last-Event-ID=r3');
  await draft.waitFor((s) => s.events.length >= 1);
  assert.equal(draft.events[0].id, 'r5', 'the draft-07 spelling of the query parameter works too');
  q.close();
  both.close();
  draft.close();
});

test('earliest replays all retained history for the topics', async () => {
  const sub = new RawSubscriber(broker.port, '?topic=even&lastEventID=earliest');
  await sub.waitFor((s) => s.events.length >= 2);
  assert.deepEqual(sub.events.slice(0, 2).map((e) => e.id), ['r2', 'r4']);
  assert.match(sub.headers, /\r\nLast-Event-ID: earliest(\r\n|$)/);
  sub.close();
});

test('an unknown id replays nothing and answers Last-Event-ID: earliest', async () => {
  const sub = new RawSubscriber(broker.port, '?topic=odd', { 'Last-Event-ID': 'never-seen' });
  await sub.ready();
  await sleep(200);
  assert.equal(sub.events.length, 0);
  assert.match(sub.headers, /\r\nLast-Event-ID: earliest(\r\n|$)/);
  sub.close();
});

test('no id asked: no Last-Event-ID header, nothing replayed', async () => {
  const sub = new RawSubscriber(broker.port, '?topic=odd');
  await sub.ready();
  await sleep(150);
  assert.equal(sub.events.length, 0);
  assert.doesNotMatch(sub.headers, /Last-Event-ID/);
  sub.close();
});

test('eventsource client reconnects with Last-Event-ID and gets exactly the missed updates', async () => {
  const es = new EventSource(broker.url('?topic=reconnect'));
  const received = [];
  let opens = 0;
  es.onopen = () => { opens++; };
  es.onmessage = (e) => received.push(e.lastEventId);
  while (opens < 1) await sleep(20);
  // Publish continuously while the broker ends the stream (lifetime 1.5 s) and the client comes back.
  const sent = [];
  const deadline = Date.now() + 4000;
  for (let i = 0; Date.now() < deadline; i++) {
    const r = await broker.publish({ topic: 'reconnect', data: String(i) });
    assert.equal(r.status, 200);
    sent.push(r.body);
    await sleep(15);
  }
  const until = Date.now() + 5000;
  while (received.length < sent.length && Date.now() < until) await sleep(50);
  es.close();
  assert.ok(opens >= 2, `the stream should have been cycled (opens=${opens})`);
  assert.deepEqual(received, sent, 'no gap, no duplicate, same order');
});

test('replay races with live publishes: no gap, no duplicate', async () => {
  // Publishers keep going while subscribers join with the id of an update in the middle.
  let stop = false;
  const sent = [];
  const pub = (async () => {
    for (let i = 0; !stop; i++) sent.push((await broker.publish({ topic: 'race', data: String(i) })).body);
  })();
  await sleep(200);
  const subs = [];
  for (let k = 0; k < 10; k++) {
    const from = sent[sent.length - 1];
    subs.push({ from, sub: new RawSubscriber(broker.port, '?topic=race', { 'Last-Event-ID': from }) });
    await sleep(30);
  }
  await sleep(300);
  stop = true;
  await pub;
  for (const { from, sub } of subs) {
    const want = sent.slice(sent.indexOf(from) + 1);
    await sub.waitFor((s) => s.events.length >= want.length);
    await sleep(50);
    assert.deepEqual(sub.events.map((e) => e.id), want);
    sub.close();
  }
});
