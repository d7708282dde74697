#!/usr/bin/env bash
# A throwaway PostgreSQL for the storage tests (TEST_POSTGRES=1): Debian's postgresql, one cluster in /tmp,
# on 127.0.0.1 only. `start` prints the URL to export as TEST_DATABASE_URL; `stop` removes the cluster.
set -euo pipefail
PORT=${SENTINEL_PG_PORT:-54329}
DIR=${SENTINEL_PG_DIR:-/tmp/sentinel-pg}
SUDO=$( [ "$(id -u)" = 0 ] || echo sudo )

bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else "$@"; fi
}

case "${1:-}" in
  start)
    if [ -z "$(bin)" ]; then
      $SUDO apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
    fi
    BIN=$(bin)
    if [ ! -f "$DIR/PG_VERSION" ]; then
      $SUDO rm -rf "$DIR" && $SUDO mkdir -p "$DIR" && $SUDO chown postgres "$DIR" 2>/dev/null || mkdir -p "$DIR"
      as_postgres "$BIN/initdb -D $DIR -U postgres --auth=trust -E UTF8 >/dev/null"
    fi
    if ! as_postgres "$BIN/pg_ctl -D $DIR status >/dev/null 2>&1"; then
      as_postgres "$BIN/pg_ctl -D $DIR -l $DIR/server.log -w -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1' start >/dev/null"
    fi
    as_postgres "$BIN/psql -h 127.0.0.1 -p $PORT -U postgres -tAc \"SELECT 1 FROM pg_database WHERE datname='sentinel_test'\"" | grep -q 1 \
      || as_postgres "$BIN/createdb -h 127.0.0.1 -p $PORT -U postgres sentinel_test"
    echo "postgresql+asyncpg://postgres@127.0.0.1:$PORT/sentinel_test"
    ;;
  stop)
    BIN=$(bin)
    [ -n "$BIN" ] && [ -f "$DIR/PG_VERSION" ] && as_postgres "$BIN/pg_ctl -D $DIR -m fast stop >/dev/null" || true
    $SUDO rm -rf "$DIR"
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
