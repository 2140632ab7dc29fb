#!/usr/bin/env bash
# cluster.sh: a three-node tokenserver cluster on one machine, without
# containers. Everything runs as plain processes on loopback ports under one
# temporary directory, removed on exit:
#
#   PostgreSQL 15      one server (initdb; as the postgres user when run as root)
#   Redis + Sentinel   one primary, one replica, three sentinels (master "mymaster")
#   tokenserver x3     `tokenserver serve` on REDIS_URL=redis+sentinel://…/mymaster
#   HAProxy            in front: health checks on /readyz, retries on another node
#
# It runs the migrations, registers a client, a resource-server client and a
# user with the CLI, prints the URLs and waits until Ctrl-C (or SIGTERM), then
# stops everything it started.
#
# Usage: scripts/cluster.sh [--bin PATH] [--state FILE]
#   --bin PATH    the tokenserver binary (default: go build ./cmd/tokenserver)
#   --state FILE  also write the cluster's settings there (default: only
#                 <dir>/cluster.env), as `export KEY='value'` lines:
#                 `. FILE` lets the CLI act on the cluster; test/cluster reads it.
#                 Written (atomically) once everything is up.
#
# Sentinel timeouts are short (down-after 2 s, failover-timeout 4 s) so a
# failover is quick to watch (with 1 s, a loaded machine made the sentinels
# declare the just-promoted replica down and fail over again, back to the
# frozen old primary); PostgreSQL runs with fsync off: this is a
# laptop cluster, not a deployment.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
bin=""
state=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --state) state="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "cluster: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "cluster: $*" >&2; exit 1; }

# find_bin NAME [DIR...]: NAME in PATH or in one of the DIRs.
find_bin() {
  local name="$1" d
  shift
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for d in "$@"; do
    [ -x "$d/$name" ] && { echo "$d/$name"; return 0; }
  done
  return 1
}
pgbin=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
  [ -x "$d/initdb" ] && { pgbin="$d"; break; }
done
if [ -z "$pgbin" ]; then
  initdb_path="$(command -v initdb || true)"
  [ -n "$initdb_path" ] || die "PostgreSQL is not installed (initdb, postgres, pg_isready); Debian: apt-get install postgresql"
  pgbin="$(dirname "$initdb_path")"
fi
redis_server="$(find_bin redis-server)" || die "redis-server is not installed; Debian: apt-get install redis-server"
redis_cli="$(find_bin redis-cli)" || die "redis-cli is not installed; Debian: apt-get install redis-tools"
haproxy="$(find_bin haproxy /usr/sbin /usr/local/sbin)" || die "haproxy is not installed; Debian: apt-get install haproxy"

dir="$(mktemp -d "${TMPDIR:-/tmp}/tokenserver-cluster.XXXXXX")"
chmod 0711 "$dir" # the postgres user must reach its data directory
mkdir -p "$dir/logs"
pids=()     # every process started, in start order
stopping=""

# stop_pid PID: SIGTERM (after SIGCONT: a frozen process cannot exit), then
# SIGKILL if it is still there after 10 s.
stop_pid() {
  local pid="$1" i
  kill -CONT "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  [ -n "$stopping" ] && return
  stopping=1
  local i
  echo "cluster: stopping" >&2
  # Newest first: the load balancer, the nodes, the sentinels, Redis, PostgreSQL.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    stop_pid "${pids[i]}"
  done
  rm -rf "$dir"
  [ -n "$state" ] && rm -f "$state"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port: a loopback port nobody listens on, below the kernel's ephemeral
# range (32768+) so the kernel does not hand it out meanwhile.
taken=" "
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    case "$taken" in *" $p "*) continue ;; esac
    if ! (: </dev/tcp/127.0.0.1/"$p") 2>/dev/null; then
      taken="$taken$p "
      echo "$p"
      return
    fi
  done
}

# http_status PORT PATH: the status code of GET PATH on 127.0.0.1:PORT, or 000.
http_status() {
  timeout 3 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$1"' || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "'"$2"'" >&3
    read -r _ code _ <&3 && echo "$code"' 2>/dev/null || echo 000
}

# wait_for WHAT PID LOG CMD...: run CMD until it succeeds; fail at once if PID
# exits (with the tail of LOG), or after 60 s.
wait_for() {
  local what="$1" pid="$2" log="$3" i
  shift 3
  for i in $(seq 600); do
    "$@" >/dev/null 2>&1 && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$log" >&2 || true
      die "$what exited during start-up (log above)"
    fi
    sleep 0.1
  done
  tail -n 30 "$log" >&2 || true
  die "$what not ready after 60 s (log above)"
}

# as_postgres CMD...: initdb and postgres refuse to run as root.
as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    HOME="$dir/pg" exec setpriv --reuid=postgres --regid=postgres --clear-groups -- "$@"
  fi
  exec "$@"
}

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# --- the binary ---------------------------------------------------------------
if [ -z "$bin" ]; then
  echo "cluster: building tokenserver" >&2
  (cd "$repo" && go build -o "$dir/tokenserver" ./cmd/tokenserver)
  bin="$dir/tokenserver"
fi
[ -x "$bin" ] || die "no executable tokenserver at $bin"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

# --- PostgreSQL -----------------------------------------------------------------
pg_port="$(free_port)"
mkdir -p "$dir/pg"
[ "$(id -u)" = 0 ] && chown postgres: "$dir/pg"
(cd "$dir/pg" && as_postgres "$pgbin/initdb" -D "$dir/pg/data" --no-sync -U postgres --auth=trust \
  --encoding=UTF8 --locale=C.UTF-8) >"$dir/logs/initdb.log" 2>&1 || { cat "$dir/logs/initdb.log" >&2; die "initdb failed"; }
(cd "$dir/pg" && as_postgres "$pgbin/postgres" -D "$dir/pg/data" -p "$pg_port" \
  -c listen_addresses=127.0.0.1 -c unix_socket_directories="$dir/pg" -c max_connections=200 \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off) >"$dir/logs/postgres.log" 2>&1 &
pg_pid=$!
pids+=("$pg_pid")
wait_for PostgreSQL "$pg_pid" "$dir/logs/postgres.log" \
  "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -t 1
"$pgbin/psql" -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -c 'CREATE DATABASE tokenserver' >/dev/null
database_url="postgres://postgres@127.0.0.1:$pg_port/tokenserver?sslmode=disable"

# --- Redis: a primary, a replica, three sentinels -------------------------------
redis_primary="$(free_port)"
redis_replica="$(free_port)"
# start_redis NAME PORT [ARGS...]: sets started_pid.
start_redis() {
  local name="$1" port="$2"
  shift 2
  mkdir -p "$dir/$name"
  "$redis_server" --port "$port" --bind 127.0.0.1 --dir "$dir/$name" --save '' --appendonly no \
    --logfile '' "$@" >"$dir/logs/$name.log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  wait_for "$name" "$started_pid" "$dir/logs/$name.log" "$redis_cli" -p "$port" ping
}
start_redis redis-primary "$redis_primary"
primary_pid="$started_pid"
start_redis redis-replica "$redis_replica" --replicaof 127.0.0.1 "$redis_primary"
replica_pid="$started_pid"
replica_up() { "$redis_cli" -p "$redis_replica" info replication | grep -q '^master_link_status:up'; }
wait_for redis-replica "$replica_pid" "$dir/logs/redis-replica.log" replica_up

sentinel_ports=()
for i in 1 2 3; do
  port="$(free_port)"
  sentinel_ports+=("$port")
  mkdir -p "$dir/sentinel-$i"
  cat >"$dir/sentinel-$i/sentinel.conf" <<CONF
port $port
bind 127.0.0.1
dir $dir/sentinel-$i
sentinel monitor mymaster 127.0.0.1 $redis_primary 2
sentinel down-after-milliseconds mymaster 2000
sentinel failover-timeout mymaster 4000
sentinel parallel-syncs mymaster 1
CONF
  "$redis_server" "$dir/sentinel-$i/sentinel.conf" --sentinel >"$dir/logs/sentinel-$i.log" 2>&1 &
  pids+=("$!")
done
# Ready when every sentinel sees the other two (quorum) and knows the replica
# (else there is nothing to promote).
sentinel_ready() {
  local p
  for p in "${sentinel_ports[@]}"; do
    "$redis_cli" -p "$p" sentinel ckquorum mymaster | grep -q '^OK 3 usable' || return 1
    "$redis_cli" -p "$p" sentinel replicas mymaster | grep -qx "$redis_replica" || return 1
  done
}
wait_for sentinels "${pids[-1]}" "$dir/logs/sentinel-3.log" sentinel_ready
sentinels="127.0.0.1:${sentinel_ports[0]},127.0.0.1:${sentinel_ports[1]},127.0.0.1:${sentinel_ports[2]}"
redis_url="redis+sentinel://$sentinels/mymaster"

# --- migrations, a client, a resource server, a user ----------------------------
lb_port="$(free_port)"
stats_port="$(free_port)"
lb_url="http://127.0.0.1:$lb_port"
kek="$(head -c 32 /dev/urandom | base64)"
client_secret="$(random_hex 24)"
rs_secret="$(random_hex 24)"
user_password="$(random_hex 12)"
export DATABASE_URL="$database_url" REDIS_URL="$redis_url" TOKENSERVER_KEK="$kek"
"$bin" migrate >"$dir/logs/cli.log" 2>&1
printf '%s\n' "$client_secret" | "$bin" client add --scopes read,write app >>"$dir/logs/cli.log" 2>&1
printf '%s\n' "$rs_secret" | "$bin" client add --grants '' api >>"$dir/logs/cli.log" 2>&1
printf '%s\n' "$user_password" | "$bin" user add alice >>"$dir/logs/cli.log" 2>&1

# --- three tokenserver nodes ------------------------------------------------------
# One issuer for all (the load balancer's URL): a token from any node verifies
# and refreshes at any other. HAProxy's X-Forwarded-For is believed, so login
# throttling counts the real client. The reuse leeway lets a refresh whose
# answer was lost (its node killed mid-request, HAProxy retrying on another)
# be presented again instead of revoking the session as theft.
node_ports=()
node_pids=()
node_urls=()
names=(a b c)
for name in "${names[@]}"; do
  port="$(free_port)"
  TOKENSERVER_ADDR="127.0.0.1:$port" "$bin" serve \
    --issuer "$lb_url" --trusted-proxies 127.0.0.1 --refresh-reuse-leeway 10s \
    --shutdown-timeout 5s >"$dir/logs/node-$name.log" 2>&1 &
  pids+=("$!")
  node_pids+=("$!")
  node_ports+=("$port")
  node_urls+=("http://127.0.0.1:$port")
done
node_ready() { [ "$(http_status "$1" /readyz)" = 200 ]; }
for i in 0 1 2; do
  wait_for "node ${node_urls[i]}" "${node_pids[i]}" "$dir/logs/node-${names[i]}.log" node_ready "${node_ports[i]}"
done

# --- HAProxy ------------------------------------------------------------------------
# "ready" holds the nodes whose /readyz answers 200. When none does (e.g. every
# node reports a dependency down), requests go to "live", the nodes that
# answer /healthz at all: they answer better errors (503 + Retry-After) than
# the balancer's bare 503. A request that fails on a node (connection refused
# or reset, an empty answer, 5xx) is retried on another node: safe for
# /token because of the reuse leeway above, and for /revoke and /introspect,
# which are idempotent.
cat >"$dir/haproxy.cfg" <<CONF
global
  log stderr format raw local0 info
  maxconn 2000

defaults
  mode http
  log global
  option httplog
  option forwardfor
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  retries 3
  retry-on all-retryable-errors
  option redispatch 1
  default-server inter 500ms fall 2 rise 2

frontend tokenserver
  bind 127.0.0.1:$lb_port
  use_backend live if { nbsrv(ready) lt 1 }
  default_backend ready

backend ready
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  server a 127.0.0.1:${node_ports[0]} check
  server b 127.0.0.1:${node_ports[1]} check
  server c 127.0.0.1:${node_ports[2]} check

backend live
  balance roundrobin
  option httpchk GET /healthz
  http-check expect status 200
  server a 127.0.0.1:${node_ports[0]} check
  server b 127.0.0.1:${node_ports[1]} check
  server c 127.0.0.1:${node_ports[2]} check

listen stats
  bind 127.0.0.1:$stats_port
  stats enable
  stats uri /
  stats refresh 2s
CONF
"$haproxy" -c -q -f "$dir/haproxy.cfg" >"$dir/logs/haproxy.log" 2>&1 || { cat "$dir/logs/haproxy.log" >&2; die "haproxy.cfg is invalid"; }
"$haproxy" -db -f "$dir/haproxy.cfg" >>"$dir/logs/haproxy.log" 2>&1 &
haproxy_pid=$!
pids+=("$haproxy_pid")
# Ready when the stats page lists all three nodes UP in "ready".
lb_ready() {
  [ "$(timeout 3 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$stats_port"' || exit 1
    printf "GET /;csv HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
    cat <&3' 2>/dev/null | awk -F, '$1 == "ready" && $2 ~ /^[abc]$/ && $18 == "UP"' | wc -l)" = 3 ]
}
wait_for HAProxy "$haproxy_pid" "$dir/logs/haproxy.log" lb_ready

# --- settings ---------------------------------------------------------------------
join() { local IFS=,; echo "$*"; }
{
  echo "# tokenserver cluster (scripts/cluster.sh); \`. this-file\` lets the CLI act on it"
  echo "export DATABASE_URL='$database_url'"
  echo "export REDIS_URL='$redis_url'"
  echo "export TOKENSERVER_KEK='$kek'"
  echo "export CLUSTER_DIR='$dir'"
  echo "export CLUSTER_BIN='$bin'"
  echo "export CLUSTER_LB_URL='$lb_url'"
  echo "export CLUSTER_STATS_URL='http://127.0.0.1:$stats_port/'"
  echo "export CLUSTER_NODE_URLS='$(join "${node_urls[@]}")'"
  echo "export CLUSTER_NODE_PIDS='$(join "${node_pids[@]}")'"
  echo "export CLUSTER_POSTGRES_PID='$pg_pid'"
  echo "export CLUSTER_REDIS_PRIMARY='127.0.0.1:$redis_primary'"
  echo "export CLUSTER_REDIS_PRIMARY_PID='$primary_pid'"
  echo "export CLUSTER_REDIS_REPLICA='127.0.0.1:$redis_replica'"
  echo "export CLUSTER_REDIS_REPLICA_PID='$replica_pid'"
  echo "export CLUSTER_SENTINELS='$sentinels'"
  echo "export CLUSTER_SENTINEL_MASTER='mymaster'"
  echo "export CLUSTER_HAPROXY_PID='$haproxy_pid'"
  echo "export CLUSTER_CLIENT_ID='app'"
  echo "export CLUSTER_CLIENT_SECRET='$client_secret'"
  echo "export CLUSTER_RS_CLIENT_ID='api'"
  echo "export CLUSTER_RS_CLIENT_SECRET='$rs_secret'"
  echo "export CLUSTER_USER='alice'"
  echo "export CLUSTER_PASSWORD='$user_password'"
} >"$dir/cluster.env.tmp"
chmod 0600 "$dir/cluster.env.tmp"
mv "$dir/cluster.env.tmp" "$dir/cluster.env"
if [ -n "$state" ]; then
  cp "$dir/cluster.env" "$state.tmp"
  mv "$state.tmp" "$state"
fi

cat <<MSG
tokenserver cluster is up (Ctrl-C stops everything and removes $dir)

  load balancer  $lb_url          (issuer; HAProxy stats: http://127.0.0.1:$stats_port/)
  node a         ${node_urls[0]}
  node b         ${node_urls[1]}
  node c         ${node_urls[2]}
  PostgreSQL     $database_url
  Redis          primary 127.0.0.1:$redis_primary, replica 127.0.0.1:$redis_replica
  REDIS_URL      $redis_url
  logs           $dir/logs/

  client app / $client_secret (password, refresh_token; scopes read write)
  client api / $rs_secret (resource server: /revocations/stream, /introspect)
  user   alice / $user_password

  curl -s -u app:$client_secret -d grant_type=password -d username=alice -d password=$user_password $lb_url/token
  . $dir/cluster.env && $bin keys list    # the CLI on this cluster
MSG

# Wait for a signal; a process that dies meanwhile (a node you killed) is
# left as it is.
sleep infinity &
pids+=("$!")
wait "$!" || true
