#!/usr/bin/env bash
# Builds MetalLB's controller and speaker, the reference `make bench` measures ferrolb against,
# from the Go module proxy at the version pinned in tests/bench/go/metallb/go.mod, into a cache
# outside the checkout, with MetalLB's CRDs from the same module. Nothing of MetalLB is part of
# ferrolb; a later run with the same pin builds nothing.
#
# Prints the cache directory on stdout (bin/controller, bin/speaker, crds/*.yaml); progress goes
# to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod="$here/go/metallb"

die() { echo "metallb build: $*" >&2; exit 1; }

version=$(awk '$1 == "require" && $2 == "go.universe.tf/metallb" { print $3 }' "$mod/go.mod")
[ -n "$version" ] || die "could not read the pinned MetalLB version from $mod/go.mod"
key=$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)
cache="${FERROLB_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferrolb/bench}/metallb-$version-$key"

done_already() { [ -x "$cache/bin/controller" ] && [ -x "$cache/bin/speaker" ] && [ -s "$cache/crds/metallb.io_ipaddresspools.yaml" ]; }
if done_already; then
  echo "$cache"
  exit 0
fi
command -v go >/dev/null 2>&1 || die "Go is not installed; the benchmarks build MetalLB from its Go module"

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if done_already; then
  echo "$cache"
  exit 0
fi
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Go's build cache lives and dies with this build: the binaries are what is kept, and the cache
# of a Kubernetes build alone takes gigabytes that a small disk cannot spare.
export GOCACHE="$tmp/go-build"

echo "metallb build: controller and speaker $version ..." >&2
start=$SECONDS
if ! (cd "$mod" && GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' \
  -o "$tmp/" go.universe.tf/metallb/controller go.universe.tf/metallb/speaker) >"$tmp/build.log" 2>&1; then
  tail -n 30 "$tmp/build.log" >&2
  die "building MetalLB failed (last 30 lines above); nothing was cached"
fi
echo "metallb build: done in $((SECONDS - start)) s" >&2
src=$(cd "$mod" && go list -m -f '{{.Dir}}' go.universe.tf/metallb)
[ -d "$src/config/crd/bases" ] || die "MetalLB's module has no config/crd/bases"
mkdir -p "$tmp/crds"
cp "$src"/config/crd/bases/*.yaml "$tmp/crds/"
mkdir -p "$cache/bin"
rm -rf "$cache/crds"
mv "$tmp/crds" "$cache/crds"
mv "$tmp/controller" "$tmp/speaker" "$cache/bin/"
echo "$cache"
