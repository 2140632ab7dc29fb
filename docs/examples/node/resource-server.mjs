// A Node resource server for tokenserver access tokens: JWTs verified
// offline with jose against the issuer's JWKS, revocations pushed over
// GET /revocations/stream (server-sent events). See docs/resource-servers.md.
//
// Configuration (environment):
//   ISSUER         the token server's issuer, e.g. https://auth.example.com
//   AUDIENCE       this API's identifier, e.g. https://api.example.com: the
//                  clients' `client add --audience`
//   CLIENT_ID      this resource server's own confidential client at the
//   CLIENT_SECRET  token server (`client add --grants '' ...`), for the stream
//   ALGORITHMS     the token server's --signing-alg (and --publish-algs),
//                  comma-separated; default ES256
//   PORT           default 8081; 0 picks a free port
import http from 'node:http';
import { createRemoteJWKSet, jwtVerify, errors } from 'jose';

const issuer = process.env.ISSUER;
const audience = process.env.AUDIENCE;
const clientId = process.env.CLIENT_ID;
const clientSecret = process.env.CLIENT_SECRET;
const algorithms = (process.env.ALGORITHMS || 'ES256').split(',');
const port = Number(process.env.PORT ?? 8081);

// Discovery (RFC 8414): the metadata names the JWKS; its issuer must be
// exactly the one configured (§3.3).
const metadata = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
if (metadata.issuer !== issuer) throw new Error(`metadata issuer ${metadata.issuer} is not ${issuer}`);
// Caches the keys and refetches when a token names an unknown kid (at most
// every 30 s), so rotated-in keys are found.
const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));

// verify returns the claims and the header's kid, or throws.
async function verify(token) {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer,
    audience,
    algorithms, // pinned: never "none", never HMAC
    typ: 'at+jwt', // RFC 9068 §4: keeps ID tokens and other JWTs out
    clockTolerance: 5,
    requiredClaims: ['exp', 'iat', 'sub', 'jti', 'client_id'],
  });
  return { claims: payload, kid: protectedHeader.kid };
}

// ---- The revocation denylist, fed by GET /revocations/stream.

const MAX_STALENESS_MS = 30_000; // fail closed (503) after this long without news
const IDLE_TIMEOUT_MS = 15_000; // the server pings every 5 s while healthy
const denied = new Map(); // "kind value" -> { notBefore, expiresAt } (ms)
let synced = false; // a snapshot has been loaded
let lastAlive = 0; // when the stream last delivered anything

function add(r) {
  // Kinds: jti (one token), sid (a session), sub (a user's tokens with
  // iat <= not_before), kid (every token of a signing key). Ignore others.
  if (!['jti', 'sid', 'sub', 'kid'].includes(r.kind)) return;
  const key = `${r.kind} ${r.value}`;
  const old = denied.get(key) ?? { notBefore: 0, expiresAt: 0 };
  // Entries of one key merge (a later revocation of a user moves not_before
  // on); none is ever withdrawn.
  denied.set(key, {
    notBefore: Math.max(old.notBefore, r.not_before ? Date.parse(r.not_before) : 0),
    expiresAt: Math.max(old.expiresAt, Date.parse(r.expires_at)),
  });
}

function isRevoked(claims, kid) {
  const now = Date.now();
  const hit = (kind, value) => {
    const e = value !== undefined && denied.get(`${kind} ${value}`);
    return e && now < e.expiresAt ? e : undefined;
  };
  if (hit('jti', claims.jti) || hit('sid', claims.sid) || hit('kid', kid)) return true;
  const sub = hit('sub', claims.sub);
  return Boolean(sub) && claims.iat <= Math.floor(sub.notBefore / 1000); // whole seconds
}

// onEvent handles one server-sent event.
function onEvent(event, data) {
  lastAlive = Date.now();
  if (event === 'snapshot') {
    // Merge, never replace: a revocation is never withdrawn.
    for (const r of JSON.parse(data).revocations) add(r);
    if (!synced) console.log(`revocation snapshot loaded (${denied.size} entries)`);
    synced = true;
  } else if (event === 'revoke') {
    add(JSON.parse(data));
  } // 'ping': only proves the stream alive
}

// follow reads the stream, reconnecting with backoff, forever.
async function follow() {
  const url = `${issuer}/revocations/stream`;
  // RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
  for (let backoff = 250; ; backoff = Math.min(backoff * 2, 30_000)) {
    const abort = new AbortController();
    let idle = setTimeout(() => abort.abort(), IDLE_TIMEOUT_MS);
    try {
      const res = await fetch(url, {
        headers: { Authorization: `Basic ${basic}`, Accept: 'text/event-stream' },
        signal: abort.signal,
      });
      if (res.status !== 200) throw new Error(`revocation stream: HTTP ${res.status}`);
      backoff = 250;
      const decoder = new TextDecoder();
      let buf = '';
      for await (const chunk of res.body) {
        clearTimeout(idle);
        idle = setTimeout(() => abort.abort(), IDLE_TIMEOUT_MS);
        buf += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          let event = 'message';
          const data = [];
          for (const line of buf.slice(0, end).split('\n')) {
            const [field, ...rest] = line.split(':');
            const value = rest.join(':').replace(/^ /, '');
            if (field === 'event') event = value;
            else if (field === 'data') data.push(value);
          }
          buf = buf.slice(end + 2);
          if (data.length) onEvent(event, data.join('\n'));
        }
      }
      throw new Error('revocation stream ended');
    } catch (err) {
      console.error(`revocation stream: ${err.message}; reconnecting`);
    } finally {
      clearTimeout(idle);
    }
    await new Promise((r) => setTimeout(r, backoff / 2 + Math.random() * (backoff / 2)));
  }
}
follow();

// ---- The API: GET /hello needs the scope "read".

// deny answers per RFC 6750 §3.
function deny(res, status, error, description, scope) {
  let challenge = error ? `Bearer error="${error}", error_description="${description}"` : 'Bearer';
  if (scope) challenge += `, scope="${scope}"`;
  res.writeHead(status, { 'WWW-Authenticate': challenge, 'Cache-Control': 'no-store' }).end();
}

const server = http.createServer(async (req, res) => {
  if (req.method !== 'GET' || req.url !== '/hello') return res.writeHead(404).end();
  const [scheme, token] = (req.headers.authorization ?? '').split(' ');
  if (scheme?.toLowerCase() !== 'bearer' || !token) return deny(res, 401);
  let claims, kid;
  try {
    ({ claims, kid } = await verify(token));
  } catch (err) {
    const aud = err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud';
    return deny(res, 401, 'invalid_token', aud ? `audience mismatch: the token is not for ${audience}` : 'The access token is invalid');
  }
  // Fail closed: without a recent stream, revocations may be missing.
  if (!synced || Date.now() - lastAlive > MAX_STALENESS_MS) {
    return res.writeHead(503, { 'Retry-After': '5', 'Cache-Control': 'no-store' }).end();
  }
  if (isRevoked(claims, kid)) return deny(res, 401, 'invalid_token', 'The access token has been revoked');
  if (!String(claims.scope ?? '').split(' ').includes('read')) {
    return deny(res, 403, 'insufficient_scope', 'The access token lacks a required scope', 'read');
  }
  res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`hello ${claims.username}`);
});
server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
