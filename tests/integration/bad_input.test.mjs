// Hostile input, faults and limits: exact bytes on raw sockets. Every case gets the right status
// (or a clean close), and the broker keeps serving: a healthz follows each one.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, RawSubscriber, PUBLISH_ALL, HUB, sleep, parseSseEvents } from './lib/broker.mjs';
import { Conn, exchange, healthy, publishBytes } from './lib/http.mjs';

// ---- the main broker: default limits, a small body limit ----------------------------------

describe('request front', { timeout: 180000 }, () => {
  let b;
  before(async () => { b = await new Broker(['--workers', '2', '--max-body-bytes', '1000']).start(); });
  after(async () => { await b.stop(); });

  test('truncated requests: a half-close gets 400 at once, a reset nothing; no crash', async () => {
    const full = publishBytes('topic=t&data=hello').toString('latin1');
    const prefixes = [
      'G', 'GET', 'GET /healthz', 'GET /healthz HTTP/1.', 'GET /healthz HTTP/1.1\r',
      'GET /healthz HTTP/1.1\r\nHost: t', 'GET /healthz HTTP/1.1\r\nHost: t\r\n',
      full.slice(0, full.length - 5), // body cut short of its Content-Length
      `POST ${HUB} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nto`, // chunked body cut
      `POST ${HUB} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n`, // missing last CRLF
    ];
    for (const p of prefixes) {
      for (const how of ['end', 'destroy']) {
        const c = await Conn.open(b.port);
        c.write(p);
        await sleep(20);
        if (how === 'end') {
          // The client stopped sending mid-request but still reads: it is told why, at once
          // (not after the header timeout), and the connection closes.
          const started = Date.now();
          c.sock.end();
          const r = await c.response(3000);
          assert.equal(r.status, 400, JSON.stringify(p));
          assert.match(r.body, /^Request cut short/);
          await c.waitClosed(3000);
          assert.ok(Date.now() - started < 2000, `answered after ${Date.now() - started} ms`);
        } else {
          c.destroy();
        }
      }
    }
    await healthy(b.port);
  });

  test('request line over the header limit: 414', async () => {
    const r = await exchange(b.port, `GET /healthz?x=${'a'.repeat(70 * 1024)} HTTP/1.1\r\nHost: t\r\n\r\n`);
    assert.equal(r.status, 414);
    assert.equal(r.headers.connection, 'close');
    await r.conn.waitClosed();
    await healthy(b.port);
  });

  test('headers over the header limit: 431', async () => {
    const headers = Array.from({ length: 40 }, (_, i) => `X-Big-${i}: ${'v'.repeat(2000)}\r\n`).join('');
    const r = await exchange(b.port, `GET /healthz HTTP/1.1\r\nHost: t\r\n${headers}\r\n`);
    assert.equal(r.status, 431);
    assert.equal(r.body, 'Request header fields too large.');
    await r.conn.waitClosed();
    // One huge header value alone, too.
    const r2 = await exchange(b.port, `GET /healthz HTTP/1.1\r\nCookie: ${'c'.repeat(80 * 1024)}\r\n\r\n`);
    assert.equal(r2.status, 431);
    await r2.conn.waitClosed();
    await healthy(b.port);
  });

  test('too many header fields: 431', async () => {
    const headers = Array.from({ length: 101 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const r = await exchange(b.port, `GET /healthz HTTP/1.1\r\n${headers}\r\n`);
    assert.equal(r.status, 431);
    assert.equal(r.body, 'Too many header fields.');
    await r.conn.waitClosed();
    // 100 in all is still fine.
    const ok = Array.from({ length: 99 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const r2 = await exchange(b.port, `GET /healthz HTTP/1.1\r\nHost: t\r\n${ok}\r\n`);
    assert.equal(r2.status, 200);
    r2.conn.destroy();
    await healthy(b.port);
  });

  test('body over --max-body-bytes: 413, by Content-Length and by chunks', async () => {
    const body = `topic=t&data=${'x'.repeat(1000)}`;
    const r = await exchange(b.port, publishBytes(body));
    assert.equal(r.status, 413);
    await r.conn.waitClosed();
    // Announced too large: answered before the body is sent.
    const r2 = await exchange(b.port, `POST ${HUB} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000000\r\n\r\n`);
    assert.equal(r2.status, 413);
    await r2.conn.waitClosed();
    // Chunked: no length announced, the limit still holds.
    const chunks = Array.from({ length: 8 }, () => `80\r\n${'y'.repeat(128)}\r\n`).join('');
    const r3 = await exchange(b.port, `POST ${HUB} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${PUBLISH_ALL}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`);
    assert.equal(r3.status, 413);
    await r3.conn.waitClosed();
    // Exactly at the limit is accepted.
    const exact = `topic=t&data=${'z'.repeat(1000 - 13)}`;
    assert.equal(exact.length, 1000);
    const r4 = await exchange(b.port, publishBytes(exact));
    assert.equal(r4.status, 200);
    r4.conn.destroy();
    await healthy(b.port);
  });

  test('invalid methods: 400 for unknown ones, 405 on known resources', async () => {
    for (const m of ['BREW', 'GETT', 'get', 'G\x01T']) {
      const r = await exchange(b.port, `${m} /healthz HTTP/1.1\r\nHost: t\r\n\r\n`);
      assert.equal(r.status, 400, m);
      await r.conn.waitClosed();
    }
    for (const [m, path] of [['PUT', HUB], ['DELETE', HUB], ['PATCH', HUB], ['POST', '/healthz'],
      ['DELETE', '/metrics'], ['PUT', '/readyz'], ['POST', `${HUB}/subscriptions`]]) {
      const r = await exchange(b.port, `${m} ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n`);
      assert.equal(r.status, 405, `${m} ${path}`);
      assert.ok(r.headers.allow, `${m} ${path}: Allow header`);
      r.conn.destroy();
    }
    await healthy(b.port);
  });

  test('HTTP/1.0 requests are served, then the connection closes', async () => {
    const r = await exchange(b.port, 'GET /healthz HTTP/1.0\r\n\r\n');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok\n');
    assert.equal(r.headers.connection, 'close');
    await r.conn.waitClosed();
    const p = publishBytes('topic=t10&data=x').toString('latin1').replace(' HTTP/1.1\r\n', ' HTTP/1.0\r\n');
    const r2 = await exchange(b.port, p);
    assert.equal(r2.status, 200);
    assert.match(r2.body, /^#[A-Za-z0-9_-]{12}$/);
    await r2.conn.waitClosed();
    // A second request pipelined after an HTTP/1.0 one is not answered.
    const c = await Conn.open(b.port);
    c.write('GET /healthz HTTP/1.0\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n');
    assert.equal((await c.response()).status, 200);
    await c.waitClosed();
    assert.equal(c.buf.length, 0);
    await healthy(b.port);
  });

  test('pipelined: two publishes and a healthz in one write, three answers in order', async () => {
    const sub = new RawSubscriber(b.port, '?topic=pipe');
    await sub.ready();
    const c = await Conn.open(b.port);
    c.write(Buffer.concat([
      publishBytes('topic=pipe&data=one'),
      publishBytes('topic=pipe&data=two'),
      Buffer.from('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n'),
    ]));
    const r1 = await c.response();
    const r2 = await c.response();
    const r3 = await c.response();
    assert.deepEqual([r1.status, r2.status, r3.status], [200, 200, 200]);
    assert.match(r1.body, /^#[A-Za-z0-9_-]{12}$/);
    assert.match(r2.body, /^#[A-Za-z0-9_-]{12}$/);
    assert.notEqual(r1.body, r2.body);
    assert.equal(r3.body, 'ok\n');
    await sub.waitFor((s) => s.events.length === 2);
    assert.deepEqual(sub.events.map((e) => [e.id, e.data]), [[r1.body, 'one'], [r2.body, 'two']]);
    // The same, fed one byte at a time.
    const bytes = Buffer.concat([publishBytes('topic=pipe&data=three'), Buffer.from('GET /healthz HTTP/1.1\r\n\r\n')]);
    for (let i = 0; i < bytes.length; i++) c.sock.write(bytes.subarray(i, i + 1));
    const r4 = await c.response();
    const r5 = await c.response();
    assert.equal(r4.status, 200);
    assert.equal(r5.body, 'ok\n');
    await sub.waitFor((s) => s.events.length === 3);
    assert.equal(sub.events[2].data, 'three');
    c.destroy();
    sub.close();
    await healthy(b.port);
  });

  test('chunked publish bodies are accepted (extensions, trailers, 100-continue)', async () => {
    const sub = new RawSubscriber(b.port, '?topic=chunky');
    await sub.ready();
    const body = 'topic=chunky&data=split+across+chunks%21';
    const parts = [body.slice(0, 3), body.slice(3, 20), body.slice(20)];
    const chunked = parts.map((p, i) => `${p.length.toString(16)}${i === 1 ? ';ext=1' : ''}\r\n${p}\r\n`).join('');
    const head = `POST ${HUB} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${PUBLISH_ALL}\r\n` +
      'Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n';
    const r = await exchange(b.port, `${head}\r\n${chunked}0\r\nX-Trailer: yes\r\n\r\n`);
    assert.equal(r.status, 200);
    r.conn.destroy();
    // Expect: 100-continue, then the chunks in separate writes.
    const c = await Conn.open(b.port);
    c.write(`${head}Expect: 100-continue\r\n\r\n`);
    const cont = await c.response();
    assert.equal(cont.status, 100);
    c.write(`${parts[0].length.toString(16)}\r\n${parts[0]}\r\n`);
    await sleep(20);
    c.write(`${(parts[1].length + parts[2].length).toString(16)}\r\n${parts[1]}${parts[2]}\r\n0\r\n\r\n`);
    const r2 = await c.response();
    assert.equal(r2.status, 200);
    // A second Expect request on the same connection gets its own 100 Continue.
    c.write(`${head}Expect: 100-continue\r\n\r\n`);
    const cont2 = await c.response(3000);
    assert.equal(cont2.status, 100);
    c.write(`${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
    assert.equal((await c.response()).status, 200);
    c.destroy();
    await sub.waitFor((s) => s.events.length === 3);
    for (const e of sub.events) assert.equal(e.data, 'split across chunks!');
    sub.close();
    // Malformed chunk sizes are refused.
    for (const bad of ['zz\r\nab\r\n0\r\n\r\n', '-1\r\n\r\n', 'ffffffffffffffffff\r\n']) {
      const rb = await exchange(b.port, `${head}\r\n${bad}`);
      assert.equal(rb.status >= 400 && rb.status < 500, true, `${bad}: ${rb.status}`);
      await rb.conn.waitClosed();
    }
    await healthy(b.port);
  });

  test('invalid percent-encoding: 400 (body and query)', async () => {
    for (const body of ['topic=t&data=%zz', 'topic=t&data=%4', 'topic=%', 'topic=t%2', 'to%g1pic=t']) {
      const r = await exchange(b.port, publishBytes(body));
      assert.equal(r.status, 400, body);
      assert.match(r.body, /percent-encoding/);
      r.conn.destroy();
    }
    for (const q of ['topic=%zz', 'topic=a%', 'topic=a&lastEventID=%x1']) {
      const r = await exchange(b.port, `GET ${HUB}?${q} HTTP/1.1\r\nHost: t\r\n\r\n`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body, 'Invalid query string.');
      r.conn.destroy();
    }
    await healthy(b.port);
  });

  test('invalid UTF-8 in a topic: 400 (publish and subscribe)', async () => {
    // Bad continuation, overlong, surrogate, beyond U+10FFFF, lone continuation, truncated.
    for (const t of ['%C3%28', '%C0%AF', '%ED%A0%80', '%F4%90%80%80', '%80', 'abc%E2%82']) {
      const r = await exchange(b.port, publishBytes(`topic=${t}&data=x`));
      assert.equal(r.status, 400, t);
      assert.match(r.body, /Invalid topic/);
      r.conn.destroy();
      const s = await exchange(b.port, `GET ${HUB}?topic=${t} HTTP/1.1\r\nHost: t\r\n\r\n`);
      assert.equal(s.status, 400, t);
      assert.match(s.body, /^Invalid topic selector/);
      s.conn.destroy();
    }
    // Raw (not percent-encoded) invalid UTF-8 bytes in the body, too.
    const raw = Buffer.concat([Buffer.from('topic=a'), Buffer.from([0xff, 0xfe]), Buffer.from('&data=x')]);
    const r = await exchange(b.port, publishBytes(raw));
    assert.equal(r.status, 400);
    r.conn.destroy();
    await healthy(b.port);
  });

  test('control characters in a selector: 400, as in a published topic', async () => {
    for (const t of ['a%01b', '%1F', 'a%7Fb', 'a%0Ab', 'a%0Db', 'a%09b']) {
      const s = await exchange(b.port, `GET ${HUB}?topic=${t} HTTP/1.1\r\nHost: t\r\n\r\n`);
      assert.equal(s.status, 400, t);
      assert.match(s.body, /^Invalid topic selector/);
      s.conn.destroy();
      const p = await exchange(b.port, publishBytes(`topic=${t}&data=x`));
      assert.equal(p.status, 400, t);
      p.conn.destroy();
    }
    await healthy(b.port);
  });

  test('invalid UTF-8 in data, id or type: 400 (a stream is UTF-8)', async () => {
    for (const body of ['topic=t&data=%ff%fe%fd', 'topic=t&data=ok%C3%28', 'topic=t&data=%ED%A0%80',
      'topic=t&id=%C0%AF', 'topic=t&type=%80']) {
      const r = await exchange(b.port, publishBytes(body));
      assert.equal(r.status, 400, body);
      assert.match(r.body, /not UTF-8/);
      r.conn.destroy();
    }
    // Valid multi-byte UTF-8 still goes through, byte for byte.
    const sub = new RawSubscriber(b.port, '?topic=utf8');
    await sub.ready();
    const r = await exchange(b.port, publishBytes(`topic=utf8&id=caf%C3%A9&data=${encodeURIComponent('h\u00e9llo \u{1F600}')}`));
    assert.equal(r.status, 200);
    r.conn.destroy();
    await sub.waitFor((s) => s.events.length === 1);
    assert.equal(sub.events[0].data, 'h\u00e9llo \u{1F600}');
    assert.equal(sub.events[0].id, 'caf\u00e9');
    sub.close();
    await healthy(b.port);
  });

  test('URI templates: a subscription may add bounded matching work (--max-template-cost)', async () => {
    // Each template below costs 4 (two literal parts, two variables): 64 of them fit in 256.
    const tmpl = (i) => encodeURIComponent(`https://ex/${i}/{a}/b/{c}`);
    const fits = Array.from({ length: 64 }, (_, i) => `topic=${tmpl(i)}`).join('&');
    const ok = await exchange(b.port, `GET ${HUB}?${fits} HTTP/1.1\r\nHost: t\r\n\r\n`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['content-type'], 'text/event-stream');
    ok.conn.destroy();
    // A 65th distinct template goes over; a repeated one is not counted twice.
    const over = await exchange(b.port, `GET ${HUB}?${fits}&topic=${tmpl(64)} HTTP/1.1\r\nHost: t\r\n\r\n`);
    assert.equal(over.status, 400);
    assert.equal(over.body, 'Topic selectors too complex.');
    over.conn.destroy();
    const repeated = await exchange(b.port, `GET ${HUB}?${fits}&topic=${tmpl(0)} HTTP/1.1\r\nHost: t\r\n\r\n`);
    assert.equal(repeated.status, 200);
    repeated.conn.destroy();
    // One template of 300 adjacent expressions: under the length limit, over the cost limit.
    const long = encodeURIComponent(`https://ex/${'{a}'.repeat(300)}`);
    const r = await exchange(b.port, `GET ${HUB}?topic=${long} HTTP/1.1\r\nHost: t\r\n\r\n`);
    assert.equal(r.status, 400);
    assert.equal(r.body, 'Topic selectors too complex.');
    r.conn.destroy();
    await healthy(b.port);
  });

  test('NUL bytes: in the request line 400, %00 in a topic 400', async () => {
    for (const line of ['GET /heal\0thz HTTP/1.1', 'GE\0T /healthz HTTP/1.1', `GET ${HUB}?topic=a\0b HTTP/1.1`,
      '\0GET /healthz HTTP/1.1']) {
      const r = await exchange(b.port, `${line}\r\nHost: t\r\n\r\n`);
      assert.equal(r.status, 400, JSON.stringify(line));
      await r.conn.waitClosed();
    }
    // In the version, llhttp reports an invalid version: 505 is answered.
    const v = await exchange(b.port, 'GET /healthz HTTP/1.1\0\r\nHost: t\r\n\r\n');
    assert.ok(v.status === 400 || v.status === 505, String(v.status));
    await v.conn.waitClosed();
    const r = await exchange(b.port, `GET /healthz HTTP/1.1\r\nX-Nul: a\0b\r\n\r\n`);
    assert.equal(r.status, 400);
    await r.conn.waitClosed();
    const p = await exchange(b.port, publishBytes('topic=a%00b&data=x'));
    assert.equal(p.status, 400);
    p.conn.destroy();
    const s = await exchange(b.port, `GET ${HUB}?topic=a%00b HTTP/1.1\r\nHost: t\r\n\r\n`);
    assert.equal(s.status, 400);
    s.conn.destroy();
    await healthy(b.port);
  });

  test('CR/LF injection: id and type refused, data split into data: lines', async () => {
    for (const body of ['topic=t&id=a%0D%0Aevent%3A+x', 'topic=t&id=a%0Ab', 'topic=t&id=a%0Db', 'topic=t&id=%23x',
      'topic=t&type=a%0D%0Adata%3A+x', 'topic=t&type=a%0Ab', 'topic=t&type=a%0Db', 'topic=t&type=a%00b',
      'topic=t%0D%0Aid%3A+x', 'topic=t%0Ab']) {
      const r = await exchange(b.port, publishBytes(body));
      assert.equal(r.status, 400, body);
      r.conn.destroy();
    }
    const sub = new RawSubscriber(b.port, '?topic=crlf');
    await sub.ready();
    const data = 'a\r\nid: evil\n\nevent: x\rretry: 1\r\n\r\n:comment\nlast';
    const body = `topic=crlf&id=good-1&type=t1&data=${encodeURIComponent(data)}`;
    const r = await exchange(b.port, publishBytes(body));
    assert.equal(r.status, 200);
    assert.equal(r.body, 'good-1');
    r.conn.destroy();
    const r2 = await exchange(b.port, publishBytes('topic=crlf&id=good-2&data=after'));
    assert.equal(r2.status, 200);
    r2.conn.destroy();
    await sub.waitFor((s) => s.events.length === 2);
    const stream = sub.raw.slice(sub.raw.indexOf('\r\n\r\n') + 4);
    assert.equal(stream,
      'id: good-1\nevent: t1\ndata: a\ndata: id: evil\ndata: \ndata: event: x\ndata: retry: 1\n' +
      'data: \ndata: :comment\ndata: last\n\nid: good-2\ndata: after\n\n');
    assert.deepEqual(sub.events.map((e) => e.id), ['good-1', 'good-2']);
    assert.equal(sub.events[0].event, 't1');
    assert.equal(sub.events[0].data, 'a\nid: evil\n\nevent: x\nretry: 1\n\n:comment\nlast');
    sub.close();
    await healthy(b.port);
  });

  test('absurd retry values: 400', async () => {
    for (const v of ['99999999999999999999', '1e9', '-5', '', '+100', '%20100', '100ms', '0x10', '%EF%BC%91%EF%BC%92', '10%0A']) {
      const r = await exchange(b.port, publishBytes(`topic=t&retry=${v}`));
      assert.equal(r.status, 400, v);
      assert.match(r.body, /Invalid "retry"/);
      r.conn.destroy();
    }
    const ok = await exchange(b.port, publishBytes('topic=t&retry=3000'));
    assert.equal(ok.status, 200);
    ok.conn.destroy();
    await healthy(b.port);
  });

  test('Last-Event-ID of odd shapes: the right answer, and the broker keeps serving', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const r = await exchange(b.port, publishBytes(`topic=lei&id=lei-${i}&data=${i}`));
      assert.equal(r.status, 200);
      ids.push(r.body);
      r.conn.destroy();
    }
    const subscribe = async (headerValue, query = '') => {
      const c = await Conn.open(b.port);
      const h = headerValue === undefined ? '' : Buffer.concat([Buffer.from('Last-Event-ID: '), Buffer.from(headerValue, 'latin1'), Buffer.from('\r\n')]).toString('latin1');
      c.write(`GET ${HUB}?topic=lei${query} HTTP/1.1\r\nHost: t\r\n${h}\r\n`);
      const head = await c.waitFor(() => {
        const end = c.buf.indexOf('\r\n\r\n');
        return end < 0 ? null : c.buf.subarray(0, end).toString('latin1');
      }, 5000, 'the head');
      return { c, head, status: Number(head.slice(9, 12)) };
    };
    const eventsOf = async (c, n) => c.waitFor(() => {
      const raw = c.buf.toString('utf8');
      const ev = parseSseEvents(raw.slice(raw.indexOf('\r\n\r\n') + 4));
      return ev.length >= n ? ev : null;
    }, 5000, `${n} events`);

    // earliest: all of it.
    let s = await subscribe('earliest');
    assert.equal(s.status, 200);
    assert.match(s.head, /\r\nLast-Event-ID: earliest(\r\n|$)/);
    assert.deepEqual((await eventsOf(s.c, 3)).map((e) => e.id), ids);
    s.c.destroy();
    // A known id: what follows.
    s = await subscribe('lei-0');
    assert.match(s.head, /\r\nLast-Event-ID: lei-0(\r\n|$)/);
    assert.deepEqual((await eventsOf(s.c, 2)).map((e) => e.id), ids.slice(1));
    s.c.destroy();
    // Empty: nothing asked, no Last-Event-ID in the answer.
    s = await subscribe('');
    assert.equal(s.status, 200);
    assert.doesNotMatch(s.head, /Last-Event-ID/i);
    s.c.destroy();
    // Non-UTF-8 bytes, very long, NUL-free garbage: unknown, answered "earliest", nothing replayed.
    for (const odd of ['\xff\xfe\x80\xc3', 'x'.repeat(60 * 1024), ' \t lei-0', 'lei-0 ', '"lei-0"', '%00']) {
      s = await subscribe(odd);
      assert.equal(s.status, 200, JSON.stringify(odd.slice(0, 20)));
      assert.match(s.head, /\r\nLast-Event-ID: (earliest|lei-0)(\r\n|$)/);
      s.c.destroy();
    }
    // Over the header limit: 431.
    const c = await Conn.open(b.port);
    c.write(`GET ${HUB}?topic=lei HTTP/1.1\r\nLast-Event-ID: ${'y'.repeat(70 * 1024)}\r\n\r\n`);
    assert.equal((await c.response()).status, 431);
    await c.waitClosed();
    // CR/LF through the query parameter never reaches the response head (GET and HEAD).
    for (const method of ['GET', 'HEAD']) {
      const q = await Conn.open(b.port);
      q.write(`${method} ${HUB}?topic=lei&lastEventID=a%0D%0AX-Injected:%201%0D%0A HTTP/1.1\r\nHost: t\r\n\r\n`);
      const head = await q.waitFor(() => {
        const end = q.buf.indexOf('\r\n\r\n');
        return end < 0 ? null : q.buf.subarray(0, end).toString('latin1');
      }, 5000, 'the head');
      assert.doesNotMatch(head, /X-Injected/i, method);
      assert.match(head, /\r\nLast-Event-ID: earliest(\r\n|$)/, method);
      q.destroy();
    }
    await healthy(b.port);
  });

  test('odd framing: bare LF, duplicate Content-Length, CL with chunked, HTTP/2 preface', async () => {
    for (const bytes of [
      'GET /healthz HTTP/1.1\nHost: t\n\n',
      `POST ${HUB} HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab`,
      `POST ${HUB} HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `POST ${HUB} HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n`,
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      'GET /healthz HTTP/3.0\r\n\r\n',
      'GET /healthz HTTP/1.1 extra\r\n\r\n',
      'POST /healthz HTTP/1.1\r\nContent-Length : 5\r\n\r\nGET /x HTTP/1.1\r\n\r\n',
      `POST ${HUB} HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
      'GET /healthz HTTP/1.1\r\nX: a\rb\r\n\r\n',
      'GET /healthz HTTP/1.1\r\nX: a\x01b\r\n\r\n',
    ]) {
      const r = await exchange(b.port, bytes);
      assert.ok(r.status === 400 || r.status === 501 || r.status === 505, `${JSON.stringify(bytes)}: ${r.status}`);
      await r.conn.waitClosed();
    }
    await healthy(b.port);
  });

  test('random garbage on many connections at once', async () => {
    let seed = 12345;
    const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
    const conns = [];
    for (let i = 0; i < 40; i++) {
      const c = new Conn(b.port);
      c.sock.on('error', () => {});
      const len = 1 + (rnd() % 4096);
      const bytes = Buffer.alloc(len);
      for (let k = 0; k < len; k++) bytes[k] = rnd() & 0xff;
      const prefix = i % 2 ? `POST ${HUB} HTTP/1.1\r\nContent-Length: ${len}\r\n\r\n` : '';
      c.write(Buffer.concat([Buffer.from(prefix), bytes]));
      if (i % 3 === 0) c.sock.end();
      conns.push(c);
    }
    await sleep(1000);
    // Whatever came back is an error answer: garbage is never taken for a request that succeeds.
    let answered = 0;
    for (const c of conns) {
      const text = c.buf.toString('latin1');
      if (text) {
        answered++;
        assert.match(text, /^HTTP\/1\.1 (4\d\d|505) /, JSON.stringify(text.slice(0, 80)));
      }
      c.destroy();
    }
    assert.ok(answered >= 20, `only ${answered} of 40 garbage requests were answered`);
    await healthy(b.port);
  });
});

// ---- time limits -------------------------------------------------------------------------

describe('timeouts', { timeout: 60000 }, () => {
  let b;
  before(async () => {
    b = await new Broker(['--workers', '1', '--header-timeout', '1s', '--keepalive-timeout', '1s']).start();
  });
  after(async () => { await b.stop(); });

  test('slow-loris: a request dribbled byte by byte is cut at the header timeout', async () => {
    const c = await Conn.open(b.port);
    const t0 = Date.now();
    const bytes = 'GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ' + 'a'.repeat(1000);
    let i = 0;
    const timer = setInterval(() => { if (!c.closed && i < bytes.length) c.write(bytes[i++]); }, 100);
    try {
      await c.waitClosed(4000);
    } finally {
      clearInterval(timer);
    }
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 900 && elapsed < 3500, `closed after ${elapsed} ms`);
    const text = c.buf.toString('latin1');
    assert.ok(text === '' || /^HTTP\/1\.1 408 /.test(text), text);
    await healthy(b.port);
  });

  test('a slow body is cut at the same timeout', async () => {
    const c = await Conn.open(b.port);
    c.write(`POST ${HUB} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntopic=`);
    const timer = setInterval(() => { if (!c.closed) c.write('a'); }, 150);
    try {
      const r = await c.response(4000);
      assert.equal(r.status, 408);
      await c.waitClosed(3000);
    } finally {
      clearInterval(timer);
    }
    await healthy(b.port);
  });

  test('a connection that never sends anything is closed', async () => {
    const c = await Conn.open(b.port);
    const t0 = Date.now();
    await c.waitClosed(4000);
    assert.ok(Date.now() - t0 < 3500);
    assert.equal(c.buf.length, 0);
  });

  test('idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const c = await Conn.open(b.port);
    c.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
    const r = await c.response();
    assert.equal(r.status, 200);
    const t0 = Date.now();
    // Still usable just before the timeout.
    await sleep(500);
    c.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
    assert.equal((await c.response()).status, 200);
    await c.waitClosed(4000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 900 && elapsed < 3500, `closed after ${elapsed} ms`);
    assert.equal(c.buf.length, 0, 'nothing sent on idle close');
    await healthy(b.port);
  });

  test('streams are not subject to the header or keep-alive timeouts', async () => {
    const sub = new RawSubscriber(b.port, '?topic=longlived');
    await sub.ready();
    await sleep(2200);
    assert.equal(sub.closed, false);
    sub.close();
  });
});

// ---- the connection cap -------------------------------------------------------------------

describe('connection cap', { timeout: 60000 }, () => {
  let b;
  before(async () => {
    b = await new Broker(['--workers', '2', '--max-connections', '20', '--max-connections-per-worker', '20',
      '--keepalive-timeout', '1s']).start();
  });
  after(async () => { await b.stop(); });

  async function openConnections() {
    const c = await Conn.open(b.port);
    c.write('GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    const r = await c.response();
    await c.waitClosed();
    const line = r.body.split('\n').filter((l) => l.startsWith('ssebroker_connections{'));
    return line.reduce((s, l) => s + Number(l.split(' ').pop()), 0);
  }

  test('the 21st connection gets 503, and service resumes when one leaves', async () => {
    // The start-up probe's pooled connection is closed by the keep-alive timeout first.
    const deadline = Date.now() + 5000;
    while (await openConnections() !== 1 && Date.now() < deadline) await sleep(200);
    assert.equal(await openConnections(), 1);
    const held = [];
    for (let i = 0; i < 20; i++) held.push(new RawSubscriber(b.port, `?topic=cap${i}`));
    await Promise.all(held.map((s) => s.ready()));
    for (const s of held) assert.match(s.headers, /^HTTP\/1\.1 200 /);
    const r = await exchange(b.port, 'GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '1');
    assert.equal(r.body, 'Too many connections.');
    await r.conn.waitClosed();
    held.pop().close();
    await sleep(200);
    await healthy(b.port);
    for (const s of held) s.close();
    assert.ok(await b.metric('ssebroker_connections_rejected_total') >= 1);
  });
});

// ---- slow consumers -------------------------------------------------------------------------

describe('slow consumer', { timeout: 90000 }, () => {
  let b;
  before(async () => {
    b = await new Broker(['--workers', '2', '--max-queued-bytes', '65536']).start();
  });
  after(async () => { await b.stop(); });

  test('a subscriber that never reads is cut, counted, and resumes with everything', { timeout: 60000 }, async () => {
    const stalled = await Conn.open(b.port);
    stalled.sock.pause();
    stalled.write(`GET ${HUB}?topic=slow HTTP/1.1\r\nHost: t\r\n\r\n`);
    await sleep(200);
    const keep = await Conn.open(b.port); // one keep-alive publisher connection
    const ids = [];
    const data = 'd'.repeat(60000);
    for (let i = 0; i < 600; i++) {
      keep.write(publishBytes(`topic=slow&data=${data}${i}`));
      const r = await keep.response();
      assert.equal(r.status, 200);
      ids.push(r.body);
      if (i % 20 === 19 && (await b.metric('ssebroker_slow_consumers_total')) >= 1) break;
    }
    assert.equal(await b.metric('ssebroker_slow_consumers_total'), 1, `not cut after ${ids.length} updates`);
    // A few more after the cut: the resumed stream must have those too.
    for (let i = 0; i < 5; i++) {
      keep.write(publishBytes(`topic=slow&data=after${i}`));
      ids.push((await keep.response()).body);
    }
    keep.destroy();
    // What the stalled socket had received before the broker closed it.
    stalled.sock.resume();
    await stalled.waitClosed(20000);
    const raw = stalled.buf.toString('utf8');
    assert.match(raw, /^HTTP\/1\.1 200 /);
    const got = parseSseEvents(raw.slice(raw.indexOf('\r\n\r\n') + 4)).map((e) => e.id);
    assert.ok(got.length < ids.length);
    assert.deepEqual(got, ids.slice(0, got.length));
    // Resume from the last complete event: exactly the rest, in order.
    const last = got.length ? got[got.length - 1] : 'earliest';
    const sub = new RawSubscriber(b.port, '?topic=slow', { 'Last-Event-ID': last });
    await sub.waitFor((s) => s.events.length >= ids.length - got.length, 20000);
    await sleep(100);
    assert.deepEqual(got.concat(sub.events.map((e) => e.id)), ids);
    sub.close();
    await healthy(b.port);
  });

  test('a subscriber resuming far behind is not cut while its replay is on the way out', { timeout: 60000 }, async () => {
    // 20 MB of history to replay: far more than the 64 KiB live budget and the socket buffers.
    const keep = await Conn.open(b.port);
    const ids = [];
    const data = 'r'.repeat(40000);
    for (let i = 0; i < 500; i++) {
      keep.write(publishBytes(`topic=behind&data=${data}${i}`));
      const r = await keep.response();
      assert.equal(r.status, 200);
      ids.push(r.body);
    }
    const cutsBefore = await b.metric('ssebroker_slow_consumers_total');
    const late = await Conn.open(b.port);
    late.sock.pause();
    late.write(`GET ${HUB}?topic=behind HTTP/1.1\r\nHost: t\r\nLast-Event-ID: ${ids[0]}\r\n\r\n`);
    await sleep(300);
    // Live updates while most of the replay still waits in the broker's queue.
    for (let i = 0; i < 3; i++) {
      keep.write(publishBytes(`topic=behind&data=live${i}`));
      ids.push((await keep.response()).body);
    }
    keep.destroy();
    assert.equal(await b.metric('ssebroker_slow_consumers_total'), cutsBefore);
    late.sock.resume();
    const want = ids.slice(1);
    // The last live update is small: look for it at the tail only (the buffer grows to 20 MB).
    const lastEvent = `id: ${want[want.length - 1]}\ndata: live2\n\n`;
    await late.waitFor(() => late.buf.subarray(-200).toString('latin1').endsWith(lastEvent),
      30000, 'the whole replay and the live updates');
    const raw = late.buf.toString('latin1');
    assert.deepEqual(parseSseEvents(raw.slice(raw.indexOf('\r\n\r\n') + 4)).map((e) => e.id), want);
    assert.equal(late.closed, false);
    late.destroy();
    await healthy(b.port);
  });
});
