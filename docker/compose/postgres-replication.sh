#!/bin/bash
# Run once by the official postgres image when it creates the cluster
# (/docker-entrypoint-initdb.d): replication connections from the project's network may sign
# in with the password, as every other connection does. (The image's pg_hba.conf admits
# `all` databases, which does not include replication.)
set -eu
echo "host replication all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
