// Mercure 1.0 "Protected Resource Metadata" (spec/mercure.md at v1.0, RFC 9728) and the
// resource_metadata parameter of the hub's Bearer challenges ("Error Responses"): the document's
// members, content type, caching and CORS, where it is served (RFC 9728 section 3.1), 404 when the
// hub does not publish it (08 off, no --resource-identifier), 405, and resource_metadata="<URL>"
// on every 400/401/403 challenge of subscribe, publish and the subscriptions API. Real binary,
// real sockets (fetch). Each test names the upstream cases it mirrors: resourcemetadata_test.go,
// bearererror_test.go and caddy/caddy_test.go of dunglas/mercure.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, HUB, jwt } from './lib/broker.mjs';
import { DETAIL, accessToken, grantExact } from './lib/mercure08.mjs';

const RESOURCE = 'https://example.com/.well-known/mercure';
const METADATA_PATH = '/.well-known/oauth-protected-resource/.well-known/mercure';
const METADATA_URL = `https://example.com${METADATA_PATH}`;
const ISSUER = 'https://app.example';
const ORIGIN = 'https://app.example';
const T = 'https://example.com/books/';

const at = (details, claims = {}) => accessToken(details, { aud: RESOURCE, ...claims });
const grant = grantExact;
const auth = (token) => ({ Authorization: `Bearer ${token}` });
const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
// The challenge each outcome carries while the document is published.
const challenge = (error) => (error ? `Bearer error="${error}", resource_metadata="${METADATA_URL}"`
  : `Bearer resource_metadata="${METADATA_URL}"`);

let broker;
before(async () => {
  broker = await new Broker(['--subscriptions', '--require-subscriber-token', '--resource-identifier', RESOURCE,
    '--jwt-issuer', ISSUER, '--cors-origin', ORIGIN]).start();
});
after(async () => { await broker.stop(); });

const get = (b, path, init = {}) => fetch(`${b.base}${path}`, init);

// resourcemetadata_test.go TestProtectedResourceMetadata, TestProtectedResourceMetadataUsesResourceIdentifier,
// TestProtectedResourceMetadataAdvertisesSubscriptions; caddy_test.go TestProtectedResourceMetadata.
test('the document: resource exactly, header bearer method, the Mercure detail type, cookie, subscriptions', async () => {
  const r = await get(broker, METADATA_PATH);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.equal(r.headers.get('cache-control'), 'max-age=300');
  const text = await r.text();
  // The compact form the reference's Caddy test looks for.
  assert.ok(text.includes(`"resource":"${RESOURCE}"`), text);
  assert.deepEqual(JSON.parse(text), {
    resource: RESOURCE,
    bearer_methods_supported: ['header'],
    authorization_details_types_supported: [DETAIL],
    mercure_cookie: '__Secure-mercure_access_token',
    mercure_subscriptions: true,
  });
  // No authorization_servers: --jwt-issuer names trusted (self-)issuers, not OAuth servers; the
  // reference lists only issuers flagged authorization_server.
  assert.equal('authorization_servers' in JSON.parse(text), false);
  // HEAD: the same answer without a body.
  const head = await get(broker, METADATA_PATH, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-type'), 'application/json');
  assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(text)));
  assert.equal(await head.text(), '');
});

// resourcemetadata_test.go TestProtectedResourceMetadataAdvertisesCustomCookieName; without
// --subscriptions mercure_subscriptions is omitted (TestProtectedResourceMetadata asserts false).
test('mercure_cookie names --access-token-cookie; mercure_subscriptions only with --subscriptions', async () => {
  const b = await new Broker(['--resource-identifier', RESOURCE, '--access-token-cookie', '__Secure-custom']).start();
  try {
    const doc = await (await get(b, METADATA_PATH)).json();
    assert.equal(doc.mercure_cookie, '__Secure-custom');
    assert.equal('mercure_subscriptions' in doc, false);
    assert.equal(doc.resource, RESOURCE);
  } finally {
    await b.stop();
  }
});

// The route is registered for GET and HEAD only (handler.go); preflight as the rest of the hub.
test('other methods: 405 with Allow; OPTIONS is the hub\'s preflight', async () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const r = await get(broker, METADATA_PATH, { method, headers: form, body: method === 'DELETE' ? undefined : 'x=1' });
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.get('allow'), 'GET, HEAD, OPTIONS');
    await r.body?.cancel();
  }
  const pre = await get(broker, METADATA_PATH, { method: 'OPTIONS', headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'GET' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), ORIGIN);
});

// handler.go wraps every route in the hub's CORS handler (corsHandler).
test('CORS: a listed origin reads the document with credentials; others get no grant; Vary: Origin always', async () => {
  const listed = await get(broker, METADATA_PATH, { headers: { Origin: ORIGIN } });
  assert.equal(listed.status, 200);
  assert.equal(listed.headers.get('access-control-allow-origin'), ORIGIN);
  assert.equal(listed.headers.get('access-control-allow-credentials'), 'true');
  assert.equal(listed.headers.get('vary'), 'Origin');
  assert.equal((await listed.json()).resource, RESOURCE);
  const other = await get(broker, METADATA_PATH, { headers: { Origin: 'https://evil.example' } });
  assert.equal(other.status, 200);
  assert.equal(other.headers.get('access-control-allow-origin'), null);
  // A cached copy must not serve the listed origin's grant to another one, nor the reverse.
  assert.equal(other.headers.get('vary'), 'Origin');
  await other.body?.cancel();
});

// resourcemetadata_test.go TestProtectedResourceMetadataNotRegisteredWhenAnonymousWithoutKeys (a
// hub that publishes none answers 404); the spec: pre-1.0 hubs publish no metadata.
test('404 and bare challenges when no document is published: no --resource-identifier, or --dialects 07', async () => {
  for (const args of [[], ['--dialects', '07', '--resource-identifier', RESOURCE]]) {
    const b = await new Broker(['--require-subscriber-token', ...args]).start();
    try {
      const r = await get(b, METADATA_PATH);
      assert.equal(r.status, 404, args.join(' '));
      await r.body?.cancel();
      const sub = await get(b, `${HUB}?topic=x`);
      assert.equal(sub.status, 401);
      assert.equal(sub.headers.get('www-authenticate'), 'Bearer');
      await sub.body?.cancel();
      const pub = await get(b, HUB, { method: 'POST', headers: { ...form, ...auth('not.a.token') }, body: 'topic=x&data=y' });
      assert.equal(pub.status, 401);
      assert.equal(pub.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
      await pub.body?.cancel();
    } finally {
      await b.stop();
    }
  }
});

// RFC 9728 section 3.1: the well-known suffix goes between the host and the identifier's path
// (the reference always uses the origin + /.well-known/oauth-protected-resource/.well-known/mercure,
// which is the same URL for the usual identifier).
test('the well-known path is derived from the resource identifier\'s path', async () => {
  for (const [id, path] of [
    ['https://example.com/hub/.well-known/mercure', '/.well-known/oauth-protected-resource/hub/.well-known/mercure'],
    ['https://example.com:8443/', '/.well-known/oauth-protected-resource'],
  ]) {
    const b = await new Broker(['--require-subscriber-token', '--resource-identifier', id]).start();
    try {
      const r = await get(b, path);
      assert.equal(r.status, 200, id);
      assert.equal((await r.json()).resource, id);
      if (path !== METADATA_PATH) {
        const fixed = await get(b, METADATA_PATH);
        assert.equal(fixed.status, 404, id);
        await fixed.body?.cancel();
      }
      const origin = new URL(id).origin;
      const sub = await get(b, `${HUB}?match=x`);
      assert.equal(sub.headers.get('www-authenticate'), `Bearer resource_metadata="${origin}${path}"`);
      await sub.body?.cancel();
    } finally {
      await b.stop();
    }
  }
});

// bearererror_test.go TestBearerChallengeNoToken, TestBearerErrorInvalidToken,
// TestBearerErrorInvalidRequestMalformedHeader (subscribe side; the reference's setWWWAuthenticate
// adds resource_metadata to every challenge, error or not).
test('subscribe: 401 without a token, 401 invalid_token, 400 invalid_request all point to the document', async () => {
  const none = await get(broker, `${HUB}?match=${encodeURIComponent(`${T}1`)}`);
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), challenge());
  await none.body?.cancel();
  const valid = at([grant(['subscribe'], '*')]);
  const bad = await get(broker, `${HUB}?match=x`, { headers: auth(`${valid.slice(0, -6)}123456`) });
  assert.equal(bad.status, 401);
  assert.equal(bad.headers.get('www-authenticate'), challenge('invalid_token'));
  await bad.body?.cancel();
  const malformed = await get(broker, `${HUB}?match=x`, { headers: { Authorization: 'Bearer' } });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.headers.get('www-authenticate'), challenge('invalid_request'));
  await malformed.body?.cancel();
  // The URL in the challenge resolves (host aside) to the document, whose resource is this hub.
  const doc = await (await get(broker, new URL(METADATA_URL).pathname)).json();
  assert.equal(doc.resource, RESOURCE);
});

// bearererror_test.go TestBearerChallengeNoToken, TestBearerErrorInvalidToken,
// TestBearerErrorInsufficientScopeSubscriptionAPI, TestBearerErrorInvalidRequestMalformedHeader
// (all on the subscriptions API, as upstream).
test('subscriptions API: 401, 401 invalid_token, 403 insufficient_scope, 400 invalid_request', async () => {
  const path = `${HUB}/subscriptions`;
  const none = await get(broker, path);
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), challenge());
  await none.body?.cancel();
  const valid = at([grant(['subscribe'], '*')]);
  const bad = await get(broker, path, { headers: auth(`${valid.slice(0, -6)}123456`) });
  assert.equal(bad.status, 401);
  assert.equal(bad.headers.get('www-authenticate'), challenge('invalid_token'));
  await bad.body?.cancel();
  const scoped = await get(broker, path, { headers: auth(at([grant(['subscribe'], 'https://example.com/not-the-api')])) });
  assert.equal(scoped.status, 403);
  assert.equal(scoped.headers.get('www-authenticate'), challenge('insufficient_scope'));
  await scoped.body?.cancel();
  // A draft-07 token without the grant gets the same challenge (draft-07 clients ignore the
  // unknown auth-param).
  const scoped07 = await get(broker, path, { headers: auth(jwt({ mercure: { subscribe: ['https://example.com/other'] } })) });
  assert.equal(scoped07.status, 403);
  assert.equal(scoped07.headers.get('www-authenticate'), challenge('insufficient_scope'));
  await scoped07.body?.cancel();
  const malformed = await get(broker, path, { headers: { Authorization: 'Token abc' } });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.headers.get('www-authenticate'), challenge('invalid_request'));
  await malformed.body?.cancel();
  // CORS stays beside the challenge for a listed origin.
  const cors = await get(broker, path, { headers: { Origin: ORIGIN } });
  assert.equal(cors.status, 401);
  assert.equal(cors.headers.get('access-control-allow-origin'), ORIGIN);
  assert.equal(cors.headers.get('www-authenticate'), challenge());
  await cors.body?.cancel();
});

// bearererror_test.go TestBearerErrorInsufficientScopePublish, TestBearerChallengeNoToken and
// TestBearerErrorInvalidToken (publish side).
test('publish: 401 without a token, 401 invalid_token, 403 insufficient_scope, 400 invalid_request', async () => {
  const body = new URLSearchParams({ topic: `${T}1`, private: 'on', data: 'x' }).toString();
  const post = (headers) => get(broker, HUB, { method: 'POST', headers: { ...form, ...headers }, body });
  const none = await post({});
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), challenge());
  await none.body?.cancel();
  const valid = at([grant(['publish'], `${T}1`)]);
  const bad = await post(auth(`${valid.slice(0, -6)}123456`));
  assert.equal(bad.status, 401);
  assert.equal(bad.headers.get('www-authenticate'), challenge('invalid_token'));
  await bad.body?.cancel();
  const scoped = await post(auth(at([grant(['publish'], 'https://example.com/other')])));
  assert.equal(scoped.status, 403);
  assert.equal(scoped.headers.get('www-authenticate'), challenge('insufficient_scope'));
  await scoped.body?.cancel();
  const scoped07 = await post(auth(jwt({ mercure: { publish: ['https://example.com/other'] } })));
  assert.equal(scoped07.status, 403);
  assert.equal(scoped07.headers.get('www-authenticate'), challenge('insufficient_scope'));
  await scoped07.body?.cancel();
  const malformed = await post({ Authorization: 'Basic dXNlcjpwYXNz' });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.headers.get('www-authenticate'), challenge('invalid_request'));
  await malformed.body?.cancel();
  // A listed origin's browser (Echo whispers) reads the challenge beside its CORS grant.
  const whisper = await post({ Origin: ORIGIN });
  assert.equal(whisper.status, 401);
  assert.equal(whisper.headers.get('access-control-allow-origin'), ORIGIN);
  assert.equal(whisper.headers.get('www-authenticate'), challenge());
  await whisper.body?.cancel();
  // The granted publisher still publishes.
  const ok = await post(auth(valid));
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
});
