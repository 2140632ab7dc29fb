#!/usr/bin/env bash
# Installs what the integration tests need: a PostgreSQL server (initdb, pg_ctl,
# postgres), redis-server, promtool (Debian's prometheus package: the alert
# rules' checks in deploy/), and PyJWT with cryptography for the Python guide's
# test (docs/examples). On Debian/Ubuntu as root it uses apt-get; elsewhere it
# says what to install. The tests start their own servers on loopback ports.
# (The Node guide's test needs node and npm, and fetches jose from the npm
# registry; it is not installed here.)
set -euo pipefail

have_pg() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
have_redis() { command -v redis-server >/dev/null 2>&1; }
have_promtool() { command -v promtool >/dev/null 2>&1; }
# The test tries python3 in PATH, then Debian's /usr/bin/python3 (where
# python3-jwt installs, even when PATH has another python3 first).
have_pyjwt() {
  local p
  for p in python3 /usr/bin/python3; do
    command -v "$p" >/dev/null 2>&1 && "$p" -c 'import jwt, cryptography' >/dev/null 2>&1 && return 0
  done
  return 1
}

missing=()
have_pg || missing+=(postgresql)
have_redis || missing+=(redis-server)
have_promtool || missing+=(prometheus)
have_pyjwt || missing+=(python3-jwt python3-cryptography)
[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "test-deps: installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the packaged services; the tests run their own on random ports.
  for s in redis-server postgresql prometheus; do
    (command -v systemctl >/dev/null && systemctl stop "$s") >/dev/null 2>&1 || true
    (command -v service >/dev/null && service "$s" stop) >/dev/null 2>&1 || true
  done
  exit 0
fi

cat >&2 <<MSG
test-deps: missing ${missing[*]}.
  The storage tests start a real PostgreSQL (initdb, pg_ctl) and a real redis-server on loopback ports;
  the Python guide's test (docs/examples) needs python3 with PyJWT and cryptography;
  the alert rules' test (deploy/) needs promtool.
  Debian/Ubuntu: sudo apt-get install postgresql redis-server prometheus python3-jwt python3-cryptography
  macOS:         brew install postgresql@15 redis prometheus; pip3 install 'pyjwt[crypto]'
  Without them the integration tests are skipped locally (and fail when CI=true).
MSG
[ "${CI:-}" = true ] && exit 1
exit 0
