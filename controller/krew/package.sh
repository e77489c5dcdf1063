#!/usr/bin/env bash
# Packages kubectl-ferrolb for krew: an archive holding the binary, and the plugin manifest
# that names the archive's address and checksum.
#   package.sh BINARY OUT_DIR [URI]
# URI defaults to the release download address of the chart's appVersion. Prints the
# manifest's path.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${1:?usage: package.sh BINARY OUT_DIR [URI]}
out=${2:?usage: package.sh BINARY OUT_DIR [URI]}
[ -x "$bin" ] || { echo "package: $bin is not an executable" >&2; exit 1; }
version=$(sed -n 's/^appVersion: *"*\([^"]*\)"*/\1/p' "$here/../../charts/ferrolb/Chart.yaml")
[ -n "$version" ] || { echo "package: no appVersion in charts/ferrolb/Chart.yaml" >&2; exit 1; }
archive=kubectl-ferrolb_linux_amd64.tar.gz
uri=${3:-https://github.com/ferrolb/ferrolb/releases/download/v$version/$archive}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -m 0755 "$bin" "$stage/kubectl-ferrolb"
mkdir -p "$out"
# The same binary always makes the same archive: fixed owner, time and order.
tar -C "$stage" --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -cf - kubectl-ferrolb |
  gzip -n >"$out/$archive"
sha=$(sha256sum "$out/$archive" | cut -d' ' -f1)
sed -e "s|@VERSION@|$version|g" -e "s|@URI@|$uri|g" -e "s|@SHA256@|$sha|g" \
  -e '/^# /d' "$here/ferrolb.yaml" >"$out/ferrolb.yaml"
echo "$out/ferrolb.yaml"
