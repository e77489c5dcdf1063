#!/usr/bin/env bash
# Builds Go commands that the tests use as clients (promtool, krew) from a pinned module:
#   build-go-tools.sh NAME MODULE_DIR PACKAGE...
# MODULE_DIR holds a go.mod/go.sum that require the commands' module at the pinned version. The
# binaries (named after their package's last element) go to a cache outside the checkout, keyed
# by the pin, so a later run with the same pin builds nothing. Prints the cache directory on
# stdout; progress goes to stderr.
set -euo pipefail

die() { echo "$name build: $*" >&2; exit 1; }

name=${1:?usage: build-go-tools.sh NAME MODULE_DIR PACKAGE...}
mod=$(cd "${2:?usage: build-go-tools.sh NAME MODULE_DIR PACKAGE...}" && pwd)
shift 2
[ $# -gt 0 ] || die "no package to build"
if [ ! -f "$mod/go.mod" ] || [ ! -f "$mod/go.sum" ]; then die "$mod has no go.mod and go.sum"; fi

key=$( (cat "$mod/go.mod" "$mod/go.sum"; echo "$*") | sha256sum | cut -c1-12)
cache="${FERROLB_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferrolb/tools}/$name-$key"
built() {
  local p
  for p in "$@"; do [ -x "$cache/${p##*/}" ] || return 1; done
}
if built "$@"; then
  echo "$cache"
  exit 0
fi
command -v go >/dev/null 2>&1 || die "Go is not installed; the tests build $name from its Go module"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if built "$@"; then
  echo "$cache"
  exit 0
fi
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Go's build cache lives and dies with this build: the binaries are what is kept, and the cache
# of a Kubernetes build alone takes gigabytes that a small disk cannot spare.
export GOCACHE="$tmp/go-build"
echo "$name build: $* ..." >&2
start=$SECONDS
if ! (cd "$mod" && GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' \
  -o "$tmp/" "$@") >"$tmp/build.log" 2>&1; then
  tail -n 30 "$tmp/build.log" >&2
  die "building failed (last 30 lines above); nothing was cached"
fi
echo "$name build: done in $((SECONDS - start)) s" >&2
for p in "$@"; do mv "$tmp/${p##*/}" "$cache/"; done
echo "$cache"
