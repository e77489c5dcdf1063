#!/usr/bin/env bash
# Installs the system packages the lab, the tests and the demo use, where they are missing, and
# with --docker starts a Docker engine for the kind suite when none is running (`make test`
# stops it again at its end with docker-engine.sh). Only Debian's packages; the Go-built tools come from
# build-tools.sh and tests/kind/node-image.sh.
set -euo pipefail

# command -> Debian package
declare -A pkg=(
  [ip]=iproute2 [socat]=socat [openssl]=openssl [curl]=curl [arping]=arping
  [ndisc6]=ndisc6 [shellcheck]=shellcheck [flock]=util-linux [python3]=python3
  [tcpdump]=tcpdump [pgrep]=procps [dockerd]=docker.io [debootstrap]=debootstrap
)
missing=()
for c in "${!pkg[@]}"; do
  command -v "$c" >/dev/null 2>&1 || missing+=("${pkg[$c]}")
done
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
engine() {
  if [ "${1:-}" = --docker ]; then exec "$here/docker-engine.sh" start; fi
  exit 0
}
[ ${#missing[@]} -eq 0 ] && engine "$@"
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing packages: ${missing[*]} (install them with your package manager)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
engine "$@"
