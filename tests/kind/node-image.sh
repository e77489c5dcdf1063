#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions run through step() look unreachable to shellcheck
# Builds the kind node image the kind suite runs on, and the kind command, here: no image
# registry can be reached, so every part comes from Debian packages and Go modules.
#
#   tests/kind/node-image.sh            builds what is missing; prints the node image's name
#   tests/kind/node-image.sh --bin      the same; prints the directory holding `kind`
#
# Parts, each cached under ~/.cache/ferrolb/kind/ by the versions pinned in tests/kind/go/*
# and tests/lab/go/kubernetes (the lab's Kubernetes pin), so a warm run builds nothing:
#  - Go: kind; kubelet, kubeadm, kubectl, the control plane and kube-proxy; etcd and CoreDNS at
#    the versions kubeadm deploys; containerd v2, crictl and the CNI plugins; agnhost (the test
#    server). pause from the Kubernetes module's C source.
#  - A Debian rootfs (debootstrap) with systemd, runc, iptables and nftables.
#  - The base image: kind's own base image files (from the kind module) on that rootfs.
#  - The node image: what `kind build node-image` does (binaries in /usr/bin, /kind/version,
#    every image kubeadm needs imported into containerd), done by this script, because kind's
#    builder pre-pulls its default CNI (kindnetd, whose source no module serves) and storage
#    images from their registries even when they are never used. Clusters made from this image
#    set `disableDefaultCNI` (tests/kind/e2e.sh installs the pod network) and fall back to kind's
#    host-path StorageClass.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
gomods="$here/go"
k8smod="$root/tests/lab/go/kubernetes"

die() { echo "kind node image: $*" >&2; exit 1; }
log() { echo "kind node image: $*" >&2; }

print=image
case ${1:-} in
  --bin) print=bin ;;
  "") ;;
  *) die "unknown argument '$1'" ;;
esac

pinned() { # module path, go.mod file -> version
  awk -v m="$1" '$1 == "require" && $2 == m { print $3 } $1 == m && $2 ~ /^v/ { print $2 }' "$2" | head -n1
}
k8s=$(pinned k8s.io/kubernetes "$k8smod/go.mod")
kind_v=$(pinned sigs.k8s.io/kind "$gomods/kind/go.mod")
etcd_v=$(pinned go.etcd.io/etcd/server/v3 "$gomods/etcd/go.mod")
coredns_v=$(pinned github.com/coredns/coredns "$gomods/coredns/go.mod")
containerd_v=$(pinned github.com/containerd/containerd/v2 "$gomods/containerd/go.mod")
crictl_v=$(pinned sigs.k8s.io/cri-tools "$gomods/cri-tools/go.mod")
for pin in "$k8s" "$kind_v" "$etcd_v" "$coredns_v" "$containerd_v" "$crictl_v"; do
  [ -n "$pin" ] || die "could not read the pinned versions from tests/kind/go/*/go.mod"
done

# Debian packages of the node (kind's base image installs the same, less storage drivers).
packages=systemd,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,bash,ca-certificates,curl,jq,procps,runc
suite=bookworm
mirror=${FERROLB_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# The cache key: every pin, the node's Dockerfile and prelude, and the layout of what this
# script builds (raise it when a change here changes the images).
layout=1
key=$( (cat "$gomods"/*/go.mod "$gomods"/*/go.sum "$k8smod/go.mod" "$k8smod/go.sum" \
  "$here/node/Dockerfile" "$here/node/prelude"; echo "layout $layout") | sha256sum | cut -c1-12)
cache_root="${FERROLB_KIND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferrolb/kind}"
cache="$cache_root/k8s-$k8s-kind-$kind_v-$key"
bin="$cache/bin"
node_image="ferrolb.test/kind-node:$k8s-$key"
rootfs_key=$(echo "$suite $packages" | sha256sum | cut -c1-12)
rootfs_tar="$cache_root/rootfs-$suite-$rootfs_key.tar"
rootfs_image="ferrolb.test/kind-rootfs:$suite-$rootfs_key"

done_already() {
  [ -x "$bin/kind" ] && docker image inspect "$node_image" >/dev/null 2>&1
}
finish() {
  if [ "$print" = bin ]; then echo "$bin"; else echo "$node_image"; fi
  exit 0
}
command -v docker >/dev/null 2>&1 || die "docker is missing (tests/lab/install-deps.sh installs it)"
done_already && finish

command -v go >/dev/null 2>&1 || die "Go is not installed; the node image is built from Go modules"
mkdir -p "$cache"
# One build at a time: a second run waits for the first instead of racing it.
exec 9>"$cache_root/.lock"
flock 9
done_already && finish

tmp=$(mktemp -d "$cache_root/.build.XXXXXX")
build_container=""
cleanup() {
  [ -z "$build_container" ] || docker rm -f -v "$build_container" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Go's build cache lives and dies with this build: the binaries are what is kept, and the cache
# of a Kubernetes build alone takes gigabytes that a small disk cannot spare.
export GOCACHE="$tmp/go-build"

step() {
  local name=$1; shift
  log "$name ..."
  local start=$SECONDS
  if ! "$@" >"$tmp/$name.log" 2>&1; then
    tail -n 30 "$tmp/$name.log" >&2
    die "$name failed (last 30 lines above)"
  fi
  log "$name done in $((SECONDS - start)) s"
}

# --- Go binaries ---------------------------------------------------------------------------------

export GOFLAGS=-mod=readonly CGO_ENABLED=0
minor=${k8s#v1.}; minor=${minor%%.*}
v=k8s.io/component-base/version
c=k8s.io/client-go/pkg/version
ldk="-s -w -X $v.gitVersion=$k8s -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean -X $c.gitVersion=$k8s -X $c.gitMajor=1 -X $c.gitMinor=$minor"

gobuild() { # module dir, output dir, ldflags, packages...
  local dir=$1 out=$2 ld=$3; shift 3
  (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$out/" "$@")
}

mkdir -p "$bin" "$cache/cni" "$cache/images"
if [ ! -x "$bin/kubelet" ]; then
  step kubernetes gobuild "$k8smod" "$tmp/k8s" "$ldk" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy \
    k8s.io/kubernetes/test/images/agnhost
  mv "$tmp/k8s/"* "$bin/"
fi
if [ ! -x "$bin/etcd" ]; then
  step etcd gobuild "$gomods/etcd" "$tmp/etcd" "-s -w" go.etcd.io/etcd/server/v3
  mv "$tmp/etcd/"* "$bin/etcd"
fi
if [ ! -x "$bin/coredns" ]; then
  step coredns gobuild "$gomods/coredns" "$tmp/coredns" "-s -w" github.com/coredns/coredns
  mv "$tmp/coredns/coredns" "$bin/coredns"
fi
if [ ! -x "$bin/containerd" ]; then
  step containerd sh -c "cd '$gomods/containerd' && go build -trimpath -tags 'no_btrfs no_devmapper no_zfs' \
    -ldflags '-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd_v' -o '$tmp/containerd/' \
    github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/ctr \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
  mv "$tmp/containerd/"* "$bin/"
fi
if [ ! -x "$bin/crictl" ]; then
  step crictl gobuild "$gomods/cri-tools" "$tmp/crictl" \
    "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$crictl_v" sigs.k8s.io/cri-tools/cmd/crictl
  mv "$tmp/crictl/crictl" "$bin/crictl"
fi
if [ ! -x "$cache/cni/ptp" ]; then
  step cni gobuild "$gomods/cni" "$tmp/cni" "-s -w" \
    github.com/containernetworking/plugins/plugins/ipam/host-local \
    github.com/containernetworking/plugins/plugins/main/loopback \
    github.com/containernetworking/plugins/plugins/main/ptp \
    github.com/containernetworking/plugins/plugins/meta/portmap
  mv "$tmp/cni/"* "$cache/cni/"
fi
k8s_dir=$(cd "$k8smod" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
pause_tag=$(sed -n 's/^TAG ?= //p' "$k8s_dir/build/pause/Makefile")
[ -n "$pause_tag" ] || die "could not read the pause version from $k8s_dir/build/pause/Makefile"
if [ ! -x "$bin/pause" ]; then
  src=$k8s_dir/build/pause/linux/pause.c
  step pause gcc -Os -Wall -static -DVERSION="v$pause_tag" -o "$bin/pause" "$src"
fi
if [ ! -x "$bin/kind" ]; then
  step kind gobuild "$gomods/kind" "$tmp/kind" "-s -w" sigs.k8s.io/kind
  mv "$tmp/kind/kind" "$bin/kind"
fi

# --- Debian rootfs -------------------------------------------------------------------------------

if ! docker image inspect "$rootfs_image" >/dev/null 2>&1; then
  if [ ! -s "$rootfs_tar" ]; then
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing (tests/lab/install-deps.sh installs it)"
    step debootstrap debootstrap --variant=minbase --include="$packages" "$suite" "$tmp/rootfs" "$mirror"
    # What debootstrap leaves for the host (apt lists, caches) has no use in a node.
    rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"*
    tar -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
    rm -rf "$tmp/rootfs"
    mv "$tmp/rootfs.tar" "$rootfs_tar"
  fi
  step rootfs-import docker import "$rootfs_tar" "$rootfs_image"
fi

# --- Images kubeadm and the suite need -----------------------------------------------------------

image_from() { # base, binary, path in image, tag...
  local base=$1 binary=$2 path=$3; shift 3
  local ctx
  ctx="$tmp/ctx-$(basename "$binary")"
  mkdir -p "$ctx"
  cp "$binary" "$ctx/"
  {
    echo "FROM $base"
    echo "COPY $(basename "$binary") $path"
    echo "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"
    echo "ENTRYPOINT [\"$path\"]"
  } >"$ctx/Dockerfile"
  local tags=()
  for t in "$@"; do tags+=(-t "$t"); done
  docker build -q "${tags[@]}" "$ctx" >/dev/null
}

reg=registry.k8s.io
images=(
  "$reg/kube-apiserver:$k8s" "$reg/kube-controller-manager:$k8s" "$reg/kube-scheduler:$k8s"
  "$reg/kube-proxy:$k8s" "$reg/etcd:${etcd_v#v}-0" "$reg/coredns/coredns:$coredns_v"
  "$reg/pause:$pause_tag"
)
build_images() {
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    image_from scratch "$bin/$b" "/usr/local/bin/$b" "$reg/$b:$k8s"
  done
  # kube-proxy programs iptables or nftables with the node's own tools.
  image_from "$rootfs_image" "$bin/kube-proxy" /usr/local/bin/kube-proxy "$reg/kube-proxy:$k8s"
  image_from scratch "$bin/etcd" /usr/local/bin/etcd "$reg/etcd:${etcd_v#v}-0"
  image_from scratch "$bin/coredns" /coredns "$reg/coredns/coredns:$coredns_v"
  image_from scratch "$bin/pause" /pause "$reg/pause:$pause_tag"
  docker save -o "$tmp/images.tar" "${images[@]}"
}
step images build_images

# The test server, loaded into clusters by the suite like the user's own images.
agnhost_v=$(cat "$k8s_dir/test/images/agnhost/VERSION")
step agnhost image_from scratch "$bin/agnhost" /agnhost "$reg/e2e-test-images/agnhost:$agnhost_v"
echo "$reg/e2e-test-images/agnhost:$agnhost_v" >"$cache/agnhost-image"

# --- Base image ----------------------------------------------------------------------------------

kind_dir=$(cd "$gomods/kind" && go list -m -f '{{.Dir}}' sigs.k8s.io/kind)
base_image="ferrolb.test/kind-base:$k8s-$key"
ctx="$tmp/base"
mkdir -p "$ctx/bin" "$ctx/cni"
cp -r "$kind_dir/images/base/files" "$ctx/kind-base"
chmod -R u+w "$ctx/kind-base"
rm -rf "$ctx/kind-base/LICENSES"
# containerd's pod sandbox is the pause image built above.
sed -i "s|sandbox_image = \".*\"|sandbox_image = \"$reg/pause:$pause_tag\"|" "$ctx/kind-base/etc/containerd/config.toml"
cp "$bin/containerd" "$bin/ctr" "$bin/containerd-shim-runc-v2" "$bin/crictl" "$ctx/bin/"
cp "$cache/cni/"* "$ctx/cni/"
cp "$here/node/Dockerfile" "$here/node/prelude" "$ctx/"
step base docker build --build-arg "ROOTFS=$rootfs_image" -t "$base_image" "$ctx"

# --- Node image (the steps of `kind build node-image`) ------------------------------------------

build_node() {
  build_container="ferrolb-kind-build-$$"
  docker run -d --name "$build_container" --entrypoint=sleep --security-opt seccomp=unconfined \
    "$base_image" infinity
  local b
  for b in kubeadm kubelet kubectl; do
    docker cp "$bin/$b" "$build_container:/usr/bin/$b"
  done
  docker exec "$build_container" sh -c "echo '$k8s' > /kind/version"
  docker exec "$build_container" bash -c 'nohup containerd >/dev/null 2>&1 &'
  local i
  for i in $(seq 1 30); do
    docker exec "$build_container" ctr info >/dev/null 2>&1 && break
    [ "$i" -lt 30 ] || { echo "containerd did not start in the build container"; return 1; }
    sleep 1
  done
  docker exec -i "$build_container" ctr --namespace=k8s.io images import \
    --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - <"$tmp/images.tar"
  # Every image kubeadm asks for must be there now: nothing can be pulled.
  local want have
  have=$(docker exec "$build_container" ctr --namespace=k8s.io images list -q)
  while read -r want; do
    grep -qx "$want" <<<"$have" || { echo "missing in the node: $want (kubeadm needs it)"; return 1; }
  done < <(docker exec "$build_container" kubeadm config images list --kubernetes-version "$k8s" |
    sed "s|^$reg/pause:.*|$reg/pause:$pause_tag|")
  docker exec "$build_container" pkill containerd
  docker commit \
    --change 'ENTRYPOINT ["/usr/local/bin/ferrolb-node-prelude", "/usr/local/bin/entrypoint", "/sbin/init"]' \
    "$build_container" "$node_image"
}
step node build_node
docker rmi "$base_image" >/dev/null 2>&1 || true
log "$node_image: $(docker image inspect -f '{{.Size}}' "$node_image" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
finish
