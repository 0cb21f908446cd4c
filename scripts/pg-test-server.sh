#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the test suite and the benchmark.
#
#   pg-test-server.sh start DIR [--durable]
#                                 initdb in DIR, start on a free port with its
#                                 socket in DIR; writes DIR/conninfo (a socket
#                                 connection) and DIR/tcp-conninfo (loopback).
#                                 Tests run with fsync off; --durable keeps the
#                                 server's defaults (fsync, synchronous commit),
#                                 as a benchmark should.
#   pg-test-server.sh stop DIR    stop immediately and remove DIR
#
# The server refuses to run as root, so as root the cluster belongs to the
# `postgres` system user (created by the postgresql package) or, failing
# that, to a system user made for the purpose.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

pg_bin() {
  local b
  for b in /usr/lib/postgresql/*/bin; do
    [[ -x "$b/initdb" ]] && { echo "$b"; return; }
  done
  command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return; }
  echo "error: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 1
}

owner() {
  if [[ $(id -u) -ne 0 ]]; then
    id -un
  elif id postgres >/dev/null 2>&1; then
    echo postgres
  else
    id kauri_quota_test >/dev/null 2>&1 || useradd --system --no-create-home kauri_quota_test
    echo kauri_quota_test
  fi
}

as_owner() {
  local user=$1
  shift
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
start)
  # fsync off survives a server crash (pg_ctl stop -m immediate) but not an
  # OS crash; synchronous_commit stays on so that an acknowledged commit is
  # in the WAL before the client hears of it.
  tuning="-c fsync=off -c full_page_writes=off"
  [[ "${3:-}" == "--durable" ]] && tuning=""
  bin=$(pg_bin)
  user=$(owner)
  # A server left behind by an interrupted run is replaced.
  if [[ -d "$dir" ]]; then
    "$0" stop "$dir"
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  chmod 755 "$dir"
  if [[ $(id -u) -eq 0 ]]; then
    chown "$user" "$dir"
    runuser -u "$user" -- test -x "$dir" ||
      { echo "error: $user cannot reach $dir (a parent directory is not searchable)" >&2; exit 1; }
  fi
  as_owner "$user" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  for attempt in $(seq 1 20); do
    port=$((20000 + RANDOM % 40000))
    if as_owner "$user" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $tuning -c max_connections=200 -c shared_buffers=128MB" \
      >/dev/null 2>&1; then
      echo "host=$dir port=$port user=postgres dbname=postgres" >"$dir/conninfo"
      echo "host=127.0.0.1 port=$port user=postgres dbname=postgres" >"$dir/tcp-conninfo"
      echo "$port" >"$dir/port"
      echo "$user" >"$dir/owner"
      exit 0
    fi
  done
  echo "error: could not start PostgreSQL (see $dir/server.log)" >&2
  tail -20 "$dir/server.log" >&2 || true
  exit 1
  ;;
stop)
  [[ -d "$dir" ]] || exit 0
  bin=$(pg_bin)
  user=$(cat "$dir/owner" 2>/dev/null || owner)
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    as_owner "$user" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac
