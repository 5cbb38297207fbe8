#!/bin/bash
# The image's HEALTHCHECK (docker/Dockerfile): asks the running binary whether it is alive,
# with nothing but bash. The runtime image has no curl or wget, and needs none: bash's
# /dev/tcp speaks enough HTTP/1.1 for one GET, writes no file (the root filesystem is read-only)
# and adds nothing to the image. Which port and path depends on the binary the image carries
# (STEPWISE_BINARY, set from the build's BINARY) and on the variables that move its port.
set -u

case "${STEPWISE_BINARY:-}" in
  # gRPC only: Docker cannot speak it without a gRPC client in the image, so the check is that
  # the port accepts a connection. Kubernetes asks the real gRPC health service (k8s/base).
  step02-payments) port=${APP__APIS__PAYMENTS__LISTEN##*:} path= ;;
  payment-sim) port=${PAYMENT_SIM_PORT:-4242} path=/health ;;
  # The shop's binaries: step 7's liveness probe (earlier steps answer /health only, so an
  # image of one of them is checked there). STEPWISE_HEALTHCHECK_PATH asks another route
  # instead: /readyz where a start order waits for an instance able to serve (compose).
  step07-devops) port=${APP__SERVER__PORT:-8080} path=${STEPWISE_HEALTHCHECK_PATH:-/healthz} ;;
  *) port=${APP__SERVER__PORT:-8080} path=${STEPWISE_HEALTHCHECK_PATH:-/health} ;;
esac

# fd 3: a TCP connection (bash opens it; nothing touches the filesystem).
if ! { exec 3<>"/dev/tcp/127.0.0.1/${port}"; } 2>/dev/null; then
  echo "nothing listens on 127.0.0.1:${port}"
  exit 1
fi
[ -z "$path" ] && exit 0
printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
IFS= read -r -t 3 status <&3 || { echo "no answer from :${port}${path}"; exit 1; }
case "$status" in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) echo ":${port}${path}: ${status%$'\r'}"; exit 1 ;;
esac
