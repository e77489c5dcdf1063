#!/usr/bin/env bash
# Builds promtool from the Prometheus Go module at the version pinned in
# tests/monitoring/go/prometheus/go.mod, into a cache outside the checkout (a later run with
# the same pin builds nothing). Prints the binary's path on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod="$here/go/prometheus"

die() { echo "promtool build: $*" >&2; exit 1; }

version=$(awk '$1 == "require" && $2 == "github.com/prometheus/prometheus" { print $3 }' "$mod/go.mod")
[ -n "$version" ] || die "could not read the pinned Prometheus version from $mod/go.mod"
key=$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)
cache="${FERROLB_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferrolb/tools}/promtool-$version-$key"
if [ -x "$cache/promtool" ]; then
  echo "$cache/promtool"
  exit 0
fi
command -v go >/dev/null 2>&1 || die "Go is not installed; the monitoring tests build promtool from its Go module"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -x "$cache/promtool" ]; then
  echo "$cache/promtool"
  exit 0
fi
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "promtool build: $version ..." >&2
start=$SECONDS
if ! (cd "$mod" && GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' \
  -o "$tmp/promtool" github.com/prometheus/prometheus/cmd/promtool) >"$tmp/build.log" 2>&1; then
  tail -n 30 "$tmp/build.log" >&2
  die "building promtool failed (last 30 lines above); nothing was cached"
fi
echo "promtool build: done in $((SECONDS - start)) s" >&2
mv "$tmp/promtool" "$cache/promtool"
echo "$cache/promtool"
