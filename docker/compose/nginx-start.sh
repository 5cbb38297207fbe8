#!/bin/sh
# nginx's entrypoint in compose.yaml: step 4's nginx.conf (a template), with LISTEN and
# UPSTREAM_SERVERS filled in by envsubst, which is told those two names so the config's own
# nginx variables ($host, $request_id, ...) stay untouched. The prefix is a directory of its
# own under /tmp; both logs go to the container's output.
set -eu
prefix=/tmp/nginx
mkdir -p "$prefix/logs" "$prefix/temp"
ln -sf /dev/stdout "$prefix/logs/access.log"
ln -sf /dev/stderr "$prefix/logs/error.log"
envsubst '${LISTEN} ${UPSTREAM_SERVERS}' </etc/stepwise/nginx.conf.template >"$prefix/nginx.conf"
exec nginx -p "$prefix/" -c nginx.conf
