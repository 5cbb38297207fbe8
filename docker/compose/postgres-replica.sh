#!/bin/bash
# The replica's entrypoint in compose.yaml: on its first start, clone the primary with
# pg_basebackup (-R writes standby.signal and primary_conninfo, so the copy starts as a hot
# standby streaming from the primary), retrying until the primary lets it in; then run the
# server as the postgres user. Works with the official image and with any image that has
# PostgreSQL's binaries on PATH and a postgres user.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
if [ "$(id -u)" = 0 ]; then
    install -d -o postgres -g postgres -m 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups /bin/bash "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_basebackup --host=postgres --username=postgres --pgdata="$PGDATA" \
        --write-recovery-conf --wal-method=stream --checkpoint=fast; do
        echo "postgres-replica: the primary is not ready for a base backup yet; again in 1 s"
        sleep 1
    done
    echo "postgres-replica: cloned the primary"
fi
exec postgres -c hot_standby=on
