#!/usr/bin/env bash
# The lab: a real control plane (etcd + kube-apiserver, TLS, RBAC, ServiceAccount tokens) and
# network-namespace "nodes" on one bridge, all made for this run and removed when it ends.
#
#   lab.sh start [--name N] [--nodes 3] [--port P] [--owner-pid PID]
#   lab.sh stop [--name N]       remove everything the lab made
#   lab.sh status [--name N]     what is running
#   lab.sh env [--name N]        prints KUBECONFIG=... (and the lab's other paths)
#   lab.sh exec [--name N] HOST -- CMD...   run CMD in HOST's namespace (cp, node1.., client)
#   lab.sh list                  the labs that exist on this machine
#   lab.sh restart-apiserver [--name N]   kill -9 the API server and start it again
#
# Layout (192.168.100.0/24 and fd00:100::/64 on one bridge, in a namespace of its own so nothing
# touches the host's interfaces): cp .10, node1..N .11.., client .50. The API server listens on
# 192.168.100.10:6443 inside the lab and is forwarded to 127.0.0.1:PORT for the host's clients.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root_dir=${FERROLB_LAB_ROOT:-/tmp/ferrolb-lab}
subnet4=192.168.100
subnet6=fd00:100:
# Addresses the nodes accept traffic for (stand-in for kube-proxy): the upper quarter of the
# subnet, which holds the example pool 192.168.100.240-192.168.100.249.
accept4=192.168.100.192/26
accept6=fd00:100::200/120
service_cidrs=10.96.0.0/16,fd00:96::/108

die() { echo "lab: $*" >&2; exit 1; }
log() { echo "lab: $*" >&2; }

name=""
nodes=3
port=""
owner_pid=""
cmd=${1:-}
[ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
  case $1 in
    --name) name=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --owner-pid) owner_pid=$2; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done

need_root() { [ "$(id -u)" = 0 ] || die "the lab needs root (network namespaces); run as root"; }

first_lab() { find "$root_dir" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort | head -n1; }

ns() { echo "flb-$name-$1"; }
dir() { echo "$root_dir/$name"; }
# etcd keeps its data in memory where the machine has a tmpfs at /dev/shm: a lab's data is thrown
# away when it stops, and etcd preallocates 64 MB of write-ahead log that a small disk cannot spare
# for every lab a test suite runs.
etcd_dir() {
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then echo "/dev/shm/ferrolb-lab-etcd-$name"; else echo "$(dir)/etcd"; fi
}

hosts() { # every host namespace of this lab
  echo cp
  local i
  for ((i = 1; i <= nodes; i++)); do echo "node$i"; done
  echo client
}

host_ip() { # host -> last octet
  case $1 in
    cp) echo 10 ;;
    client) echo 50 ;;
    node*) echo $((10 + ${1#node})) ;;
    *) die "unknown host '$1' (cp, node1..node$nodes, client)" ;;
  esac
}

load_state() {
  [ -n "$name" ] || name=$(first_lab)
  if [ -z "$name" ] || [ ! -f "$(dir)/state" ]; then
    die "no lab${name:+ named $name} is running (lab.sh list)"
  fi
  # shellcheck disable=SC1090,SC1091
  . "$(dir)/state"
}

# --- stop ---------------------------------------------------------------------------------------

do_stop() {
  local d
  d=$(dir)
  # Processes first (so nothing holds a namespace), then namespaces, then files.
  if [ -d "$d/pids" ]; then
    for f in "$d"/pids/*; do
      [ -f "$f" ] || continue
      kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
  fi
  local n pids
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^flb-$name-" || true); do
    pids=$(ip netns pids "$n" 2>/dev/null || true)
    # shellcheck disable=SC2086
    if [ -n "$pids" ]; then kill -KILL $pids 2>/dev/null || true; fi
  done
  if [ -d "$d/pids" ]; then
    for f in "$d"/pids/*; do
      [ -f "$f" ] || continue
      kill -KILL "$(cat "$f")" 2>/dev/null || true
    done
  fi
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^flb-$name-" || true); do
    ip netns delete "$n" 2>/dev/null || true
  done
  rm -rf "$d" "$(etcd_dir)"
}

# --- start --------------------------------------------------------------------------------------

# Runs a long-lived process in a host's namespace, recording its pid for stop.
spawn() { # tag host cmd...
  local tag=$1 host=$2
  shift 2
  ip netns exec "$(ns "$host")" "$@" >"$(dir)/logs/$tag.log" 2>&1 &
  echo $! >"$(dir)/pids/$tag"
}

wait_until() { # what deadline_s cmd...
  local what=$1 deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
  log "$what after $SECONDS s"
}

make_pki() {
  local p
  p=$(dir)/pki
  mkdir -p "$p"
  (
    cd "$p"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=ferrolb-lab-ca" -keyout ca.key -out ca.crt
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver" \
      -keyout apiserver.key -out apiserver.csr
    printf 'subjectAltName=IP:127.0.0.1,IP:%s.10,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' \
      "$subnet4" >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile apiserver.ext -out apiserver.crt
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/O=system:masters/CN=lab-admin" -keyout admin.key -out admin.csr
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile client.ext -out admin.crt
    openssl ecparam -name prime256v1 -genkey -noout -out sa.key
    openssl ec -in sa.key -pubout -out sa.pub
  ) >"$(dir)/logs/pki.log" 2>&1 || die "creating the lab's certificates failed (see $(dir)/logs/pki.log)"
}

write_kubeconfig() { # file server
  local p
  p=$(dir)/pki
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: $2
    certificate-authority-data: $(base64 -w0 <"$p/ca.crt")
users:
- name: lab-admin
  user:
    client-certificate-data: $(base64 -w0 <"$p/admin.crt")
    client-key-data: $(base64 -w0 <"$p/admin.key")
contexts:
- name: lab
  context: {cluster: lab, user: lab-admin}
current-context: lab
EOF
}

make_network() {
  local net h i
  net=$(ns net)
  ip netns add "$net"
  ip -n "$net" link set lo up
  ip netns exec "$net" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$net" link add br0 type bridge
  ip -n "$net" link set br0 up
  for h in $(hosts); do
    ip netns add "$(ns "$h")"
    i=$(host_ip "$h")
    ip -n "$net" link add "$h" type veth peer name eth0 netns "$(ns "$h")"
    ip -n "$net" link set "$h" master br0 up
    ip netns exec "$(ns "$h")" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
      net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.eth0.accept_dad=0
    ip -n "$(ns "$h")" link set lo up
    ip -n "$(ns "$h")" addr add "$subnet4.$i/24" dev eth0
    ip -n "$(ns "$h")" addr add "$subnet6:$i/64" dev eth0 nodad
    ip -n "$(ns "$h")" link set eth0 up
  done
  for ((i = 1; i <= nodes; i++)); do
    h=$(ns "node$i")
    # kube-proxy's strict-ARP set-up: the node accepts traffic for the service addresses but the
    # kernel never answers ARP for them; answering is the speaker's job.
    ip netns exec "$h" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
    ip -n "$h" route add local "$accept4" dev lo
    ip -n "$h" -6 route add local "$accept6" dev lo
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_free() {
  python3 -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

spawn_apiserver() {
  local d=$1
  spawn kube-apiserver cp "$BIN/kube-apiserver" \
    --etcd-servers http://127.0.0.1:2379 \
    --bind-address 0.0.0.0 --secure-port 6443 --advertise-address "$subnet4.10" \
    --tls-cert-file "$d/pki/apiserver.crt" --tls-private-key-file "$d/pki/apiserver.key" \
    --client-ca-file "$d/pki/ca.crt" \
    --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$d/pki/sa.pub" \
    --service-account-signing-key-file "$d/pki/sa.key" \
    --service-cluster-ip-range "$service_cidrs" \
    --cert-dir "$d/pki" --profiling=false --enable-priority-and-fairness=false \
    --allow-privileged=true --v 1
}

wait_apiserver_ready() {
  local d=$1
  wait_until "kube-apiserver is ready" 90 curl -sf --cacert "$d/pki/ca.crt" \
    --cert "$d/pki/admin.crt" --key "$d/pki/admin.key" "https://127.0.0.1:$port/readyz" ||
    die "kube-apiserver did not become ready within 90 s (see $d/logs/kube-apiserver.log)"
}

# Stops the API server (SIGKILL) and starts it again on the same etcd, as after a crash.
do_restart_apiserver() {
  local d
  d=$(dir)
  kill -KILL "$(cat "$d/pids/kube-apiserver")" 2>/dev/null || true
  # shellcheck disable=SC2016 # expanded by the inner shell
  wait_until "the old kube-apiserver is gone" 10 bash -c '! kill -0 "$1" 2>/dev/null' _ \
    "$(cat "$d/pids/kube-apiserver")" || die "the old kube-apiserver did not exit"
  mv "$d/logs/kube-apiserver.log" "$d/logs/kube-apiserver.$(date +%s%N).log"
  spawn_apiserver "$d"
  wait_apiserver_ready "$d"
}

start_control_plane() {
  local d=$1
  spawn etcd cp "$BIN/etcd" --name lab --data-dir "$(etcd_dir)" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster lab=http://127.0.0.1:2380 --unsafe-no-fsync --log-level warn
  spawn_apiserver "$d"
  wait_until "etcd is up" 30 ip netns exec "$(ns cp)" curl -sf http://127.0.0.1:2379/health ||
    die "etcd did not become healthy within 30 s (see $d/logs/etcd.log)"
  # The host reaches the API server through a forward over a unix socket, so the host needs no
  # address on the lab's network.
  spawn forward-in cp socat "UNIX-LISTEN:$d/apiserver.sock,fork,mode=600" TCP:127.0.0.1:6443
  ip netns exec "$(ns cp)" true
  socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$d/apiserver.sock" \
    >"$d/logs/forward-out.log" 2>&1 &
  echo $! >"$d/pids/forward-out"
  wait_apiserver_ready "$d"
}

create_nodes() {
  local i h mac
  for ((i = 1; i <= nodes; i++)); do
    h="node$i"
    mac=$(ip -n "$(ns "$h")" -br link show eth0 | awk '{print $3}')
    kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $h
  labels:
    kubernetes.io/hostname: $h
    kubernetes.io/os: linux
  annotations:
    lab.ferrolb.io/mac: "$mac"
EOF
    kubectl patch node "$h" --subresource=status --type=merge -p "$(
      cat <<EOF
{"status": {
  "addresses": [
    {"type": "InternalIP", "address": "$subnet4.$((10 + i))"},
    {"type": "InternalIP", "address": "$subnet6:$((10 + i))"},
    {"type": "Hostname", "address": "$h"}],
  "conditions": [{"type": "Ready", "status": "True", "reason": "LabNode",
    "message": "network namespace $(ns "$h")",
    "lastHeartbeatTime": "$(date -u +%FT%TZ)", "lastTransitionTime": "$(date -u +%FT%TZ)"}]}}
EOF
    )" >/dev/null
  done
}

on_start_exit() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    log "start failed; removing what it made"
    do_stop
  fi
  exit $rc
}

do_start() {
  need_root
  for c in ip socat openssl curl python3 flock; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' is missing; run tests/lab/install-deps.sh (apt packages)"
  done
  [ -n "$name" ] || name=$(head -c2 /dev/urandom | od -An -tx1 | tr -d ' \n')
  [[ $name =~ ^[a-z0-9]{1,10}$ ]] || die "lab name '$name' must be 1-10 lowercase letters or digits"
  [[ $nodes =~ ^[1-9]$ ]] || die "--nodes must be 1..9, not '$nodes'"
  if ip netns list | awk '{print $1}' | grep -q "^flb-$name-" || [ -e "$(dir)" ]; then
    die "a lab named '$name' exists already (namespaces flb-$name-* or $(dir)); stop it with: lab.sh stop --name $name"
  fi
  if [ -n "$port" ]; then
    port_free "$port" || die "port $port on 127.0.0.1 is in use; pick another with --port or leave it out"
  else
    port=$(free_port)
  fi
  BIN=$("$here/build-tools.sh") || die "building the lab's tools failed (see above)"

  local d t0=$SECONDS
  d=$(dir)
  mkdir -p "$d/pids" "$d/logs"
  # From here on a failure removes everything this start made.
  trap on_start_exit EXIT
  trap 'exit 130' INT TERM
  cat >"$d/state" <<EOF
name=$name
nodes=$nodes
port=$port
BIN=$BIN
EOF
  make_pki
  make_network
  log "network up after $((SECONDS - t0)) s"
  start_control_plane "$d"
  write_kubeconfig "$d/kubeconfig" "https://127.0.0.1:$port"
  write_kubeconfig "$d/kubeconfig.inlab" "https://$subnet4.10:6443"
  export KUBECONFIG=$d/kubeconfig
  PATH=$BIN:$PATH
  create_nodes
  local i
  for ((i = 1; i <= nodes; i++)); do
    spawn "backend-node$i" "node$i" python3 "$here/backend.py" "node$i" 80
  done
  for ((i = 1; i <= nodes; i++)); do
    wait_until "backend on node$i answers" 20 ip netns exec "$(ns client)" \
      curl -sf --max-time 1 "http://$subnet4.$((10 + i))/" ||
      die "the HTTP backend on node$i did not answer within 20 s (see $d/logs/backend-node$i.log)"
  done
  if [ -n "$owner_pid" ]; then
    # Whatever way the owner ends (exit, panic, kill, Ctrl-C), the lab goes with it.
    # shellcheck disable=SC2016 # expanded by the inner shell
    setsid bash -c 'tail --pid="$1" -f /dev/null; exec "$2" stop --name "$3"' _ \
      "$owner_pid" "$here/lab.sh" "$name" >/dev/null 2>&1 </dev/null &
  fi
  trap - EXIT INT TERM
  log "lab '$name' ready in $((SECONDS - t0)) s"
  do_env
}

do_env() {
  local d
  d=$(dir)
  echo "LAB_NAME=$name"
  echo "KUBECONFIG=$d/kubeconfig"
  echo "LAB_KUBECONFIG_INLAB=$d/kubeconfig.inlab"
  echo "LAB_DIR=$d"
  echo "LAB_BIN=$BIN"
  echo "LAB_NODES=$nodes"
  echo "LAB_PORT=$port"
}

do_status() {
  local d f p
  d=$(dir)
  echo "lab '$name': $nodes nodes, API server https://127.0.0.1:$port"
  for f in "$d"/pids/*; do
    p=$(cat "$f")
    if kill -0 "$p" 2>/dev/null; then echo "  $(basename "$f"): running (pid $p)"; else echo "  $(basename "$f"): not running"; fi
  done
  ip netns list | awk '{print $1}' | grep "^flb-$name-" | sed 's/^/  netns /'
}

case $cmd in
  start) do_start ;;
  stop)
    need_root
    [ -n "$name" ] || name=$(first_lab)
    [ -n "$name" ] || die "no lab to stop (lab.sh list)"
    do_stop
    ;;
  status) load_state; do_status ;;
  restart-apiserver) need_root; load_state; do_restart_apiserver ;;
  env) load_state; do_env ;;
  exec)
    load_state
    host=${1:-}
    [ -n "$host" ] || die "usage: lab.sh exec [--name N] HOST -- CMD..."
    shift
    [ "${1:-}" = "--" ] && shift
    host_ip "$host" >/dev/null
    exec ip netns exec "$(ns "$host")" "$@"
    ;;
  list) find "$root_dir" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort ;;
  *) die "usage: lab.sh start|stop|status|env|exec|list [--name N] (see the header of $0)" ;;
esac
