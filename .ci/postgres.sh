#!/usr/bin/env bash
# Sourced by .ci/run: gives the Postgres variants of the tests a server through DATABASE_URL, so nothing is skipped.
# The machine's own PostgreSQL on 127.0.0.1:5432 when it answers; else a private throwaway cluster from Debian's
# `postgresql` package, stopped when the run ends. The tests make and drop their own schemas in it.

if [ -n "${DATABASE_URL:-}" ]; then
  return 0
fi

if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432 -U postgres; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
  return 0
fi

pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$pg_bin" ]; then
  echo "installing: postgresql"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq postgresql
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
fi

pg_dir="$(mktemp -d /tmp/ai-runtime-ci-pg.XXXXXX)"
pg_port=55432
# initdb refuses to run as root: the cluster belongs to the postgres user then.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$pg_dir"
    su postgres -s /bin/sh -c "$*"
  else
    sh -c "$*"
  fi
}
as_owner "'$pg_bin/initdb' -D '$pg_dir/data' -A trust -U postgres >/dev/null"
as_owner "'$pg_bin/pg_ctl' -D '$pg_dir/data' -o '-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1' -l '$pg_dir/log' -w start >/dev/null"
trap "as_owner \"'$pg_bin/pg_ctl' -D '$pg_dir/data' -m fast stop >/dev/null\" || true; rm -rf '$pg_dir'" EXIT
export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
