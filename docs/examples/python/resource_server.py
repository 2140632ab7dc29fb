"""A Python resource server for tokenserver access tokens: JWTs verified
offline with PyJWT against the issuer's JWKS, revocation checked by
introspection (RFC 7662) with a short cache. See docs/resource-servers.md.

Configuration (environment):
  ISSUER         the token server's issuer, e.g. https://auth.example.com
  AUDIENCE       this API's identifier, e.g. https://api.example.com: the
                 clients' `client add --audience`
  CLIENT_ID      this resource server's own confidential client at the token
  CLIENT_SECRET  server (`client add --grants '' ...`), for /introspect
  ALGORITHMS     the token server's --signing-alg (and --publish-algs),
                 comma-separated; default ES256
  CACHE_SECONDS  how long an active introspection answer is reused; default 5
  PORT           default 8082; 0 picks a free port

Needs PyJWT >= 2.6 with cryptography (pip install 'pyjwt[crypto]', or
Debian's python3-jwt).
"""

import base64
import json
import os
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

ISSUER = os.environ["ISSUER"]
AUDIENCE = os.environ["AUDIENCE"]
CLIENT_ID = os.environ["CLIENT_ID"]
CLIENT_SECRET = os.environ["CLIENT_SECRET"]
ALGORITHMS = os.environ.get("ALGORITHMS", "ES256").split(",")
CACHE_SECONDS = float(os.environ.get("CACHE_SECONDS", "5"))
PORT = int(os.environ.get("PORT", "8082"))

# Discovery (RFC 8414): the metadata names the JWKS and the introspection
# endpoint; its issuer must be exactly the one configured (§3.3).
with urllib.request.urlopen(ISSUER + "/.well-known/oauth-authorization-server", timeout=10) as r:
    METADATA = json.load(r)
if METADATA["issuer"] != ISSUER:
    raise SystemExit(f"metadata issuer {METADATA['issuer']} is not {ISSUER}")
# Caches the key set for 10 minutes (the server's max-age) and refetches
# when a token names an unknown kid.
JWKS = jwt.PyJWKClient(METADATA["jwks_uri"], lifespan=600)


class Invalid(Exception):
    """The token must be refused with 401 invalid_token."""


def verify(token):
    """Returns the token's claims, or raises Invalid."""
    try:
        # RFC 9068 §4: typ must be at+jwt (media types compare without case,
        # and application/ may be omitted); this keeps ID tokens out.
        typ = str(jwt.get_unverified_header(token).get("typ", "")).lower()
        if typ not in ("at+jwt", "application/at+jwt"):
            raise Invalid("The access token is invalid")
        key = JWKS.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=ALGORITHMS,  # pinned: never "none", never HMAC
            issuer=ISSUER,
            audience=AUDIENCE,
            leeway=5,
            options={"require": ["exp", "iat", "sub", "jti", "client_id"]},
        )
    except jwt.InvalidAudienceError:
        raise Invalid(f"audience mismatch: the token is not for {AUDIENCE}")
    except (jwt.InvalidTokenError, jwt.PyJWKClientError):
        raise Invalid("The access token is invalid")


class Unavailable(Exception):
    """The revocation status cannot be known: refuse with 503."""


_cache = {}  # jti -> (active, reuse until)
_cache_lock = threading.Lock()


def active(token, claims):
    """Asks POST /introspect whether the token is still active. An active
    answer is reused for CACHE_SECONDS, an inactive one until the token
    expires (a revoked token never comes back)."""
    now = time.time()
    with _cache_lock:
        hit = _cache.get(claims["jti"])
        if hit and now < hit[1]:
            return hit[0]
    # RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
    basic = base64.b64encode(
        f"{urllib.parse.quote(CLIENT_ID, safe='')}:{urllib.parse.quote(CLIENT_SECRET, safe='')}".encode()
    ).decode()
    req = urllib.request.Request(
        METADATA["introspection_endpoint"],
        data=urllib.parse.urlencode({"token": token}).encode(),
        headers={"Authorization": "Basic " + basic},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            is_active = json.load(r).get("active") is True
    except Exception as e:  # fail closed: never accept an unknown status
        raise Unavailable(str(e))
    with _cache_lock:
        _cache[claims["jti"]] = (is_active, now + CACHE_SECONDS if is_active else claims["exp"])
        # (A real server bounds the cache, e.g. dropping expired entries.)
    return is_active


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/hello":
            return self.send_error(404)
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self.deny(401, None, None)
        try:
            claims = verify(token)
            if not active(token, claims):
                return self.deny(401, "invalid_token", "The access token has been revoked")
        except Invalid as e:
            return self.deny(401, "invalid_token", str(e))
        except Unavailable:
            self.send_response(503)
            self.send_header("Retry-After", "5")
            self.send_header("Cache-Control", "no-store")
            return self.end_headers()
        if "read" not in str(claims.get("scope", "")).split(" "):
            return self.deny(403, "insufficient_scope", "The access token lacks a required scope", "read")
        body = f"hello {claims.get('username')}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def deny(self, status, error, description, scope=None):
        """Answers per RFC 6750 §3."""
        challenge = "Bearer"
        if error:
            challenge += f' error="{error}", error_description="{description}"'
        if scope:
            challenge += f', scope="{scope}"'
        self.send_response(status)
        self.send_header("WWW-Authenticate", challenge)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # no access log: keep tokens out of logs
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
