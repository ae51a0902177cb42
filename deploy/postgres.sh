#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test suite: installs Debian's postgresql if it is
# missing, then runs a private cluster on 127.0.0.1:$PORT as the `postgres` user.
#   deploy/postgres.sh start|stop|url
set -euo pipefail
PORT="${ACCORD_PG_PORT:-15432}"
DIR="${ACCORD_PG_DIR:-/tmp/accord-pg-$PORT}"
URL="postgresql://accord@127.0.0.1:$PORT/accord"

pg_bin() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$found" ]; then
    echo "installing PostgreSQL from Debian's packages ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  echo "$found"
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    BIN=$(pg_bin)
    if as_postgres "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
      echo "postgres already running on $PORT"; exit 0
    fi
    if [ ! -f "$DIR/PG_VERSION" ]; then
      rm -rf "$DIR"; mkdir -p "$DIR"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"
      as_postgres "$BIN/initdb" -D "$DIR" -U accord --auth=trust -E UTF8 >/dev/null
    fi
    as_postgres "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
      -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    as_postgres "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U accord -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='accord'" | grep -q 1 || \
      as_postgres "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U accord accord
    echo "postgres running: $URL"
    ;;
  stop)
    BIN=$(pg_bin)
    as_postgres "$BIN/pg_ctl" -D "$DIR" -m fast -w stop >/dev/null 2>&1 || true
    echo "postgres stopped"
    ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
