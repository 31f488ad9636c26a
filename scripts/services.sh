#!/usr/bin/env bash
# Installs (once) and starts the services cluster mode and its tests need, on Debian, as root:
#   PostgreSQL 17 + pgvector on 127.0.0.1:${ENGRAM_PG_PORT:-5433}, from a Debian trixie root
#   (bookworm has no pgvector package), and Redis on 127.0.0.1:${ENGRAM_REDIS_PORT:-6379}.
# Idempotent: a second run only checks and starts what is not running (a few seconds).
# Prints the variables the tests read, as VAR=value lines (`export $(bash scripts/services.sh)`).
# Creates the roles docs/cluster.md describes: engram_owner (migrations) and engram_app (the API
# and workers: owns nothing, cannot bypass row-level security).
set -euo pipefail

ROOT=${ENGRAM_PG_ROOT:-/var/cache/engram/trixie-root}
PGPORT=${ENGRAM_PG_PORT:-5433}
REDIS_PORT=${ENGRAM_REDIS_PORT:-6379}
PGBIN=/usr/lib/postgresql/17/bin
log() { printf 'services: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  echo "services.sh needs root (it installs Debian packages and starts services)" >&2
  exit 1
fi

apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { apt-get update -q >/dev/null; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# --- PostgreSQL 17 + pgvector in a trixie root -------------------------------------------------
if [ ! -x "$ROOT$PGBIN/postgres" ] || [ ! -f "$ROOT/usr/share/postgresql/17/extension/vector.control" ]; then
  log "building a Debian trixie root with PostgreSQL 17 + pgvector in $ROOT (about a minute, once)"
  command -v debootstrap >/dev/null || apt_install debootstrap
  mkdir -p "$ROOT"
  [ -x "$ROOT/usr/bin/apt-get" ] || debootstrap --variant=minbase trixie "$ROOT" >/dev/null
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
  chmod +x "$ROOT/usr/sbin/policy-rc.d"
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends postgresql-17 postgresql-17-pgvector >/dev/null 2>&1 && apt-get clean'
fi
CONF="$ROOT/etc/postgresql/17/main/conf.d/engram.conf"
cat >"$CONF" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
max_connections = 200
shared_buffers = 512MB
maintenance_work_mem = 1GB
fsync = on
CONF
chmod 1777 "$ROOT/dev/shm"
pg() { chroot "$ROOT" runuser -u postgres -- "$@"; }
if ! pg "$PGBIN/pg_ctl" -D /var/lib/postgresql/17/main status >/dev/null 2>&1; then
  log "starting PostgreSQL 17 on 127.0.0.1:$PGPORT"
  pg "$PGBIN/pg_ctl" -D /var/lib/postgresql/17/main -o "-c config_file=/etc/postgresql/17/main/postgresql.conf" \
    -l /var/log/postgresql/postgresql-17-main.log -w start >/dev/null
fi
psql_root() { pg env PGOPTIONS="-c client_min_messages=warning" psql -p "$PGPORT" -qAtX -v ON_ERROR_STOP=1 "$@"; }
psql_root -c "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
psql_root <<'SQL' >/dev/null
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'engram_owner') THEN
    CREATE ROLE engram_owner LOGIN PASSWORD 'engram_owner' NOSUPERUSER NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'engram_app') THEN
    CREATE ROLE engram_app LOGIN PASSWORD 'engram_app' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END
$$;
SQL
for db in engram engram_test; do
  if [ -z "$(psql_root -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    psql_root -c "CREATE DATABASE $db OWNER engram_owner" >/dev/null
  fi
  # pgvector is not a trusted extension: a superuser creates it once per database.
  psql_root -d "$db" -c "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null
done

# --- Redis -------------------------------------------------------------------------------------
command -v redis-server >/dev/null || { log "installing redis-server"; apt_install redis-server; }
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/engram.log
  for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

cat <<OUT
ENGRAM_TEST_DATABASE_URL=postgres://engram_app:engram_app@127.0.0.1:$PGPORT/engram_test
ENGRAM_TEST_DATABASE_OWNER_URL=postgres://engram_owner:engram_owner@127.0.0.1:$PGPORT/engram_test
ENGRAM_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT
ENGRAM_PG_ROOT=$ROOT
OUT
