#!/usr/bin/env bash
# Builds the lab's control plane and clients (kube-apiserver, kubectl, etcd, helm) from their
# published Go modules at the versions pinned in tests/lab/go/*/go.mod, into a cache outside the
# checkout. A later run with the same pins finds the cache and builds nothing.
#
# Prints the cache's bin directory on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gomods="$here/go"

die() { echo "lab build: $*" >&2; exit 1; }

pinned() { # module path, go.mod file -> version
  awk -v m="$1" '$1 == "require" && $2 == m { print $3 } $1 == m && $2 ~ /^v/ { print $2 }' "$2" | head -n1
}

k8s=$(pinned k8s.io/kubernetes "$gomods/kubernetes/go.mod")
etcd=$(pinned go.etcd.io/etcd/server/v3 "$gomods/etcd/go.mod")
helm=$(pinned helm.sh/helm/v3 "$gomods/helm/go.mod")
if [ -z "$k8s" ] || [ -z "$etcd" ] || [ -z "$helm" ]; then
  die "could not read the pinned versions from $gomods/*/go.mod"
fi

# The key covers go.sum too, so a changed dependency graph never reuses a stale binary.
key=$(cat "$gomods"/*/go.mod "$gomods"/*/go.sum | sha256sum | cut -c1-12)
cache="${FERROLB_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferrolb/lab}/k8s-$k8s-etcd-$etcd-helm-$helm-$key"
bin="$cache/bin"

if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kubectl" ] && [ -x "$bin/etcd" ] && [ -x "$bin/helm" ]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "Go is not installed; the lab builds kube-apiserver, etcd, kubectl and helm from their Go modules. Install Go 1.25 or newer (https://go.dev/doc/install, or 'apt-get install golang-go' where it is new enough) and run again."

mkdir -p "$cache"
# One build at a time per cache: a second test suite waits for the first instead of racing it.
exec 9>"$cache/.lock"
flock 9
if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kubectl" ] && [ -x "$bin/etcd" ] && [ -x "$bin/helm" ]; then
  echo "$bin"
  exit 0
fi

tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Go's build cache lives and dies with this build: the binaries are what is kept, and the cache
# of a Kubernetes build alone takes gigabytes that a small disk cannot spare.
export GOCACHE="$tmp/go-build"

minor=${k8s#v1.}; minor=${minor%%.*}
v=k8s.io/component-base/version
c=k8s.io/client-go/pkg/version
ldk="-s -w -X $v.gitVersion=$k8s -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $c.gitVersion=$k8s -X $c.gitMajor=1 -X $c.gitMinor=$minor"

step() {
  local name=$1; shift
  echo "lab build: $name ..." >&2
  local start=$SECONDS
  if ! "$@" >"$tmp/$name.log" 2>&1; then
    tail -n 30 "$tmp/$name.log" >&2
    die "building $name failed (full log above, last 30 lines); nothing was cached"
  fi
  echo "lab build: $name done in $((SECONDS - start)) s" >&2
}

export GOFLAGS=-mod=readonly CGO_ENABLED=0
step kubernetes sh -c "cd '$gomods/kubernetes' && go build -trimpath -ldflags '$ldk' -o '$tmp/' k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl"
step etcd sh -c "cd '$gomods/etcd' && go build -trimpath -ldflags '-s -w' -o '$tmp/etcd' go.etcd.io/etcd/server/v3"
step helm sh -c "cd '$gomods/helm' && go build -trimpath -ldflags '-s -w -X helm.sh/helm/v3/internal/version.version=$helm' -o '$tmp/helm' helm.sh/helm/v3/cmd/helm"

mkdir -p "$bin"
for b in kube-apiserver kubectl etcd helm; do mv "$tmp/$b" "$bin/$b"; done
echo "$bin"
