#!/bin/sh
# Entrypoint of stepwise/postgres:15 (see the Dockerfile): on the first start of `postgres`,
# create the cluster (trust authentication for every client and for replication, listening on
# all interfaces); then replace this shell with the server, run as the `postgres` user, so
# `docker stop` signals reach it directly.
set -eu

if [ "${1:-}" = postgres ]; then
    if [ "$(id -u)" = 0 ]; then
        install -d -o postgres -g postgres -m 700 "$PGDATA"
        exec setpriv --reuid=postgres --regid=postgres --init-groups /bin/sh "$0" "$@"
    fi
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        initdb -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" --auth=trust -E UTF8 \
            --locale=C.UTF-8 --no-sync >/dev/null
        echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
        printf 'host all all all trust\nhost replication all all trust\n' >>"$PGDATA/pg_hba.conf"
        if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != postgres ]; then
            echo "CREATE DATABASE \"$POSTGRES_DB\"" |
                postgres --single -D "$PGDATA" postgres >/dev/null
        fi
        echo "stepwise/postgres: created the cluster in $PGDATA"
    fi
fi

exec "$@"
