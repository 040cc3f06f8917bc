// Mercure 1.0 tokens and grants as the 1.0 test files build them: an HS256 at+jwt access token
// with the claims a Laravel-shaped issuer sends (overridable; a claim set to undefined is left
// out), authorization_details grants, and the presence grant Laravel's broadcaster makes.
import crypto from 'node:crypto';
import { DEV_KEY, HUB, jwt } from './broker.mjs';

export const RESOURCE = 'https://hub.example/.well-known/mercure';
export const ISSUER = 'https://app.example';
export const DETAIL = 'https://mercure.rocks/authorization-detail';
export const SUBS = `${HUB}/subscriptions`;

// What Laravel's broadcaster and Echo encode with (rawurlencode / encodeURIComponent plus !'()*).
export const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

export function accessToken(details, claims = {}, { key = DEV_KEY, typ = 'at+jwt' } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const body = {
    iss: ISSUER, client_id: ISSUER, aud: RESOURCE, sub: '1', iat: now, jti: crypto.randomUUID(),
    exp: now + 300, authorization_details: details, ...claims,
  };
  for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k];
  return jwt(body, { key, header: { typ } });
}

// A detail over topic matchers ({ match[, match_type] }), with an optional payload.
export const grant = (actions, topics, payload) => ({ type: DETAIL, actions, topics, ...(payload === undefined ? {} : { payload }) });
// A detail over exact matchers only.
export const grantExact = (actions, ...match) => ({ type: DETAIL, actions, topics: match.map((m) => ({ match: m })) });
export const exact = (match) => ({ match });
export const pattern = (match) => ({ match, match_type: 'urlpattern' });
// Laravel's presence grant: the room's topic and the relative pattern of its subscription events
// and API, with the member's payload.
export const presenceGrant = (room, payload) => grant(['subscribe'],
  [exact(room), pattern(`${SUBS}/:match_type/${enc(room)}{/:subscriber}?`)], payload);
export const bearer = (token) => ({ Authorization: `Bearer ${token}` });
