#!/usr/bin/env bash
# `make demo`: the main job of ferrolb, end to end, in a fresh lab that is removed at the end.
#
# A real kube-apiserver, the ferrolb controller and one speaker per node namespace; the kubespray
# example pool; a LoadBalancer Service. Then: its EXTERNAL-IP, an ARP reply from the owning
# node, an HTTP answer from that node, and the failover when the owner's speaker dies.
# Everything printed is measured here; a part that does not work says so and fails the demo.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}/${FERROLB_PROFILE:-debug}
controller_bin=$target/ferrolb-controller
speaker_bin=$target/ferrolb-speaker
name=demo$$
name=${name:0:10}
pool_range=192.168.100.240-192.168.100.249

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { printf '\n\033[31mdemo: %s\033[0m\n' "$*" >&2; exit 1; }

cleanup() {
  local rc=$?
  "$here/lab/lab.sh" stop --name "$name" >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for b in "$controller_bin" "$speaker_bin"; do
  [ -x "$b" ] || fail "$b is missing: run 'make build' (make demo does it)"
done

say "Starting the lab (etcd + kube-apiserver, 3 node namespaces, a client namespace)"
t0=$(date +%s.%N)
eval "$("$here/lab/lab.sh" start --name "$name" --owner-pid $$)"
export KUBECONFIG
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v s="$(grep -m1 server: "$KUBECONFIG" | awk '{print $2}')" \
  'BEGIN { printf "lab ready in %.1f s, API server %s\n", b - a, s }'
kubectl() { "$LAB_BIN/kubectl" "$@"; }
in_ns() { local host=$1; shift; ip netns exec "flb-$name-$host" "$@"; }
kubectl get nodes -o wide

say "Installing the ferrolb CRDs"
kubectl apply --server-side -f "$root/crds/yaml/" >/dev/null
kubectl wait --for=condition=Established --timeout=30s crd/ipaddresspools.ferrolb.io crd/l2advertisements.ferrolb.io

say "Starting the controller (control-plane namespace) and a speaker on each node"
logs=$LAB_DIR/logs
ip netns exec "flb-$name-cp" env KUBECONFIG="$LAB_KUBECONFIG_INLAB" "$controller_bin" \
  --leader-elect=false --metrics-addr 127.0.0.1:7472 >"$logs/controller.log" 2>&1 &
echo $! >"$LAB_DIR/pids/controller"
disown
key=$(head -c 32 /dev/urandom | base64)
declare -A speaker_pid
for ((i = 1; i <= LAB_NODES; i++)); do
  ip netns exec "flb-$name-node$i" env KUBECONFIG="$LAB_KUBECONFIG_INLAB" NODE_NAME="node$i" \
    FERROLB_MEMBERLIST_KEY="$key" FERROLB_METRICS_ADDR=127.0.0.1:7473 "$speaker_bin" \
    >"$logs/speaker-node$i.log" 2>&1 &
  speaker_pid[node$i]=$!
  echo $! >"$LAB_DIR/pids/speaker-node$i"
  disown
done

say "Creating the kubespray example pool ($pool_range), an L2Advertisement and a Service"
kubectl apply -f - <<EOF
apiVersion: ferrolb.io/v1alpha1
kind: IPAddressPool
metadata: {name: default}
spec:
  addresses: ["$pool_range"]
---
apiVersion: ferrolb.io/v1alpha1
kind: L2Advertisement
metadata: {name: default}
spec:
  ipAddressPools: [default]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, port: 80, protocol: TCP}]
EOF
# The endpoints kube-proxy would route to: one ready backend on every node.
endpoints=""
for ((i = 1; i <= LAB_NODES; i++)); do
  endpoints+="  - {addresses: [\"10.244.$i.10\"], nodeName: node$i, conditions: {ready: true}}"$'\n'
done
kubectl apply -f - <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-lab
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 80, protocol: TCP}]
endpoints:
$endpoints
EOF

say "Waiting for the EXTERNAL-IP"
ip=""
for _ in $(seq 1 300); do
  ip=$(kubectl get svc web -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
  [ -n "$ip" ] && break
  sleep 0.1
done
[ -n "$ip" ] || { tail -n 20 "$logs/controller.log" >&2; fail "the controller assigned no address within 30 s"; }
kubectl get svc web
kubectl get svc web -o jsonpath='{range .status.conditions[*]}{.type}={.status} ({.reason}): {.message}{"\n"}{end}'
# The pool's and the advertisement's own status (written within a second of a change).
kubectl wait --for=condition=PoolsSelected --timeout=10s l2advertisement/default >/dev/null
kubectl wait --for=jsonpath='{.status.assignedIPv4}'=1 --timeout=10s ipaddresspool/default >/dev/null
kubectl get ipaddresspools,l2advertisements

mac_of() { kubectl get node "$1" -o jsonpath='{.metadata.annotations.lab\.ferrolb\.io/mac}'; }
node_of_mac() {
  local n
  for ((n = 1; n <= LAB_NODES; n++)); do
    [ "$(mac_of "node$n")" = "$1" ] && { echo "node$n"; return; }
  done
  echo "unknown"
}

say "arping $ip from the client namespace"
reply=""
for _ in $(seq 1 50); do
  out=$(in_ns client arping -c 1 -w 200000 -i eth0 "$ip" 2>&1 || true)
  reply=$(echo "$out" | awk '/bytes from/ {print $4; exit}')
  [ -n "$reply" ] && break
done
[ -n "$reply" ] || { tail -n 20 "$logs"/speaker-node*.log >&2; fail "nobody answered ARP for $ip"; }
echo "$out" | head -n 3
owner=$(node_of_mac "$reply")
echo "-> answered by $owner ($reply)"
kubectl get svc web -o jsonpath='{range .status.conditions[?(@.type=="ferrolb.io/Announced")]}{.type}={.status} ({.reason}): {.message}{"\n"}{end}'

say "curl http://$ip/ from the client namespace"
answer=$(in_ns client curl -sS --max-time 2 "http://$ip/")
echo "$answer"
[ "${answer%% *}" = "$owner" ] || fail "the answer came from ${answer%% *}, not the ARP owner $owner"

say "Failover: killing the speaker on $owner (kill -9)"
start=$(date +%s%N)
kill -9 "${speaker_pid[$owner]}"
new=""
# Bounded: at most 300 requests of at most 200 ms each.
for _ in $(seq 1 300); do
  answer=$(in_ns client curl -sS --max-time 0.2 "http://$ip/" 2>/dev/null || true)
  if [ -n "$answer" ] && [ "${answer%% *}" != "$owner" ]; then
    new=${answer%% *}
    break
  fi
done
end=$(date +%s%N)
[ -n "$new" ] || fail "traffic did not move away from $owner"
printf '%s now answers for %s: failover took %d ms (client traffic to the new owner)\n' \
  "$new" "$ip" $(((end - start) / 1000000))
in_ns client ip neigh show "$ip"
kubectl get svc web -o jsonpath='{range .status.conditions[?(@.type=="ferrolb.io/Announced")]}{.type}={.status} ({.reason}): {.message}{"\n"}{end}'

say "kubectl ferrolb status (the plugin, found on PATH by kubectl)"
# Its exit status says whether every address is answered; the demo shows it either way.
PATH="$target:$PATH" kubectl ferrolb status || echo "(not every address is answered yet)"

say "Done; tearing the lab down"
