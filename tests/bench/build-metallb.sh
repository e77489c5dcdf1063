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
# The binaries, built and cached like the tests' other Go clients.
bin=$("$here/../lab/build-go-tools.sh" metallb "$mod" \
  go.universe.tf/metallb/controller go.universe.tf/metallb/speaker)

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if done_already; then
  echo "$cache"
  exit 0
fi
# The CRDs, from the module the build just downloaded.
src=$(cd "$mod" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' go.universe.tf/metallb)
[ -d "$src/config/crd/bases" ] || die "MetalLB's module has no config/crd/bases"
tmp=$(mktemp -d "$cache/.crds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp "$src"/config/crd/bases/*.yaml "$tmp/"
chmod 755 "$tmp"
rm -rf "$cache/crds"
mv "$tmp" "$cache/crds"
rm -rf "${cache:?}/bin"
ln -s "$bin" "$cache/bin"
echo "$cache"
