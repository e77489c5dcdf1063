#!/usr/bin/env bash
# The Docker engine the kind suite needs: `start` starts Debian's dockerd when no engine answers
# (and remembers that it did), `stop` stops it only if `start` started it. An engine that was
# already running is left alone either way.
#
#   tests/lab/docker-engine.sh start|stop|status
set -euo pipefail

state=${FERROLB_DOCKERD_STATE:-/run/ferrolb-dockerd}
die() { echo "docker engine: $*" >&2; exit 1; }

answers() { docker info >/dev/null 2>&1; }

case ${1:-} in
  start)
    answers && exit 0
    command -v dockerd >/dev/null 2>&1 || die "dockerd is missing (tests/lab/install-deps.sh installs docker.io)"
    [ "$(id -u)" = 0 ] || die "no Docker engine is running, and starting one needs root"
    mkdir -p "$state"
    # Its own session, so it outlives the make that started it until `stop`.
    setsid dockerd --pidfile "$state/dockerd.pid" >"$state/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
      if answers; then
        echo "docker engine: started dockerd (log: $state/dockerd.log)" >&2
        exit 0
      fi
      sleep 0.5
    done
    tail -n 20 "$state/dockerd.log" >&2
    die "dockerd did not answer within 30 s (log above)"
    ;;
  stop)
    [ -f "$state/dockerd.pid" ] || exit 0
    pid=$(cat "$state/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    rm -f "$state/dockerd.pid"
    echo "docker engine: stopped the dockerd it started" >&2
    ;;
  status)
    answers && echo running || echo "not running"
    ;;
  *) die "usage: $0 start|stop|status" ;;
esac
