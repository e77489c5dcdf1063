#!/usr/bin/env bash
# ferrolb on a real cluster, the way a user installs it: a kind cluster (one control plane, two
# workers) on the `kind` Docker network; the images built with `make images` and loaded with
# `kind load`; `helm install --wait` with the chart's defaults (two controller replicas, the
# speaker DaemonSet) and a pool carved from the kind network's subnet; an HTTP Deployment behind
# a LoadBalancer Service. A client container on the kind network reaches the EXTERNAL-IP through
# ARP (answered by the owning node's speaker) and kube-proxy, in iptables and then nftables mode
# (IPVS with strictARP where the kernel has IPVS). Then, each checked from the client:
# a drain of one worker (the PodDisruptionBudget lets it pass), the owning speaker Pod deleted,
# the owning node container killed, the leading controller Pod deleted, `helm upgrade` rolling
# every Pod, and `helm uninstall`. Failover times are printed (and written as JSON with
# --results). Everything the run creates is removed when it ends, also on failure or Ctrl-C.
#
#   tests/kind/e2e.sh [--keep] [--trials N] [--results FILE] [--cluster NAME]
#   tests/kind/e2e.sh --dry-run --subnet CIDR [--subnet CIDR] [--used IP,IP,...] [--pool-size N]
#
# --dry-run prints the computed pool and the plan without running anything (no Docker needed);
# --subnet and --used stand in for what `docker network inspect kind` would report.
#
# Needs: docker (a running engine), make, cargo, Go and debootstrap for what it builds (the
# node image and kind: tests/kind/node-image.sh; kubectl and helm: tests/lab/build-tools.sh).
# Traffic goes only to the run's own containers on the kind network.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

cluster=ferrolb-e2e
namespace=ferrolb-system
release=ferrolb
pool_size=16
dry_run=false
keep=false
trials=1
results=""
subnets=()
used=""

die() { echo "kind e2e: $*" >&2; exit 1; }
log() { echo "kind e2e: $*" >&2; }

while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) dry_run=true; shift ;;
    --keep) keep=true; shift ;;
    --cluster) cluster=$2; shift 2 ;;
    --pool-size) pool_size=$2; shift 2 ;;
    --trials) trials=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --subnet) subnets+=("$2"); shift 2 ;;
    --used) used=$2; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $pool_size =~ ^[1-9][0-9]*$ ]] || die "--pool-size must be a positive number, not '$pool_size'"
[[ $trials =~ ^[1-9][0-9]*$ ]] || die "--trials must be a positive number, not '$trials'"

# The highest $pool_size addresses of a subnet that are not in the used list, excluding the
# network address (and, for IPv4, broadcast). Prints "pool: a-b,c-d" (ascending ranges) and one
# "pool address: IP" line per address; fails naming the subnet when there is not enough room.
carve_pool() { # subnet used-csv size
  python3 - "$1" "$2" "$3" <<'PY'
import ipaddress, sys
net = ipaddress.ip_network(sys.argv[1], strict=False)
used = {ipaddress.ip_address(u) for u in sys.argv[2].split(",") if u.strip()}
size = int(sys.argv[3])
excluded = {net.network_address} | ({net.broadcast_address} if net.version == 4 else set())
picked, addr = [], net.broadcast_address
while len(picked) < size and addr > net.network_address:
    if addr not in used and addr not in excluded:
        picked.append(addr)
    addr -= 1
if len(picked) < size:
    sys.exit(f"kind e2e: {net} has only {len(picked)} free addresses, need {size} (--pool-size)")
picked.sort()
ranges, start, prev = [], picked[0], picked[0]
for a in picked[1:]:
    if a != prev + 1:
        ranges.append((start, prev))
        start = a
    prev = a
ranges.append((start, prev))
print("pool: " + ",".join(f"{a}-{b}" if a != b else f"{a}" for a, b in ranges))
for a in picked:
    print(f"pool address: {a}")
PY
}

plan() {
  cat <<'EOF'
step: kind create cluster (1 control plane, 2 workers, kube-proxy in iptables mode)
step: pod network (ptp + host-local, routes between the nodes' pod CIDRs)
step: make images
step: kind load docker-image (controller, speaker, agnhost)
step: helm install --wait (chart defaults: 2 controller replicas, speaker DaemonSet)
step: LoadBalancer Service in front of agnhost; curl from a client container on the kind network
step: kubectl drain of one worker (PodDisruptionBudget)
step: speaker Pod of the owner deleted; node container of the owner killed
step: leading controller Pod deleted; helm upgrade; kube-proxy in nftables mode
step: helm uninstall
step: kind delete cluster
EOF
}

if [ "$dry_run" = true ]; then
  [ ${#subnets[@]} -gt 0 ] || die "--dry-run needs --subnet (what 'docker network inspect kind' would report)"
  for subnet in "${subnets[@]}"; do carve_pool "$subnet" "$used" "$pool_size"; done
  plan
  exit 0
fi

# --- tools and images ---------------------------------------------------------------------------

for c in docker make python3; do
  command -v "$c" >/dev/null 2>&1 || die "'$c' is missing"
done
docker info >/dev/null 2>&1 || die "no Docker engine answers (tests/lab/install-deps.sh starts one)"
node_image=$("$here/node-image.sh")
kind_bin=$("$here/node-image.sh" --bin)
lab_bin=$("$root/tests/lab/build-tools.sh")
agnhost=$(cat "$kind_bin/../agnhost-image")
export PATH="$kind_bin:$lab_bin:$PATH"
real_docker=$(command -v docker)

# kind runs its nodes with `docker run --privileged`, which fails on a host whose bounding set
# lacks CAP_SYS_RESOURCE; there kind gets a docker that grants everything else instead.
kind() {
  if [ "$unprivileged" = true ]; then
    FERROLB_REAL_DOCKER=$real_docker PATH="$here/unprivileged:$PATH" command kind "$@"
  else
    command kind "$@"
  fi
}
unprivileged=false
if ! docker run --rm --privileged --entrypoint true "$node_image" >/dev/null 2>&1; then
  log "this Docker host cannot run privileged containers (no CAP_SYS_RESOURCE): the nodes run with every other capability"
  unprivileged=true
fi

kubeconfig=""
client=ferrolb-e2e-client-$$
created_network=false
cleanup() {
  local rc=$?
  set +e
  docker rm -f "$client" >/dev/null 2>&1
  if [ "$keep" = true ]; then
    log "--keep: leaving cluster $cluster (KUBECONFIG=$kubeconfig; delete it with: kind delete cluster --name $cluster)"
  else
    kind delete cluster --name "$cluster" >/dev/null 2>&1
    [ "$created_network" = false ] || docker network rm kind >/dev/null 2>&1
    rm -f "$kubeconfig"
  fi
  if [ "$rc" = 0 ]; then log "passed"; else log "FAILED (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers ------------------------------------------------------------------------------------

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Runs a command until it succeeds, for at most $1 seconds. The command is run anew each time,
# so conditions that need a value looked up are functions (has_address, ...), never "$(...)"
# arguments, which would be looked up once.
eventually() { # seconds, what, command...
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "timed out after ${secs}s waiting for: $what"
    sleep 0.5
  done
}

node_ip() { docker inspect -f '{{(index .NetworkSettings.Networks "kind").IPAddress}}' "$1"; }
node_mac() { docker exec "$1" cat /sys/class/net/eth0/address; }

# kindnetd's job, done by the suite (kindnetd has no source to build it from here): each node
# gets a ptp CNI config for its pod CIDR and a route to every other node's pod CIDR.
install_pod_network() {
  local nodes n m cidr ip
  mapfile -t nodes < <(kind get nodes --name "$cluster")
  declare -A cidrs ips
  for n in "${nodes[@]}"; do
    eventually 120 "node $n to get a pod CIDR" has_pod_cidr "$n"
    cidrs[$n]=$(kubectl get node "$n" -o jsonpath='{.spec.podCIDR}')
    ips[$n]=$(node_ip "$n")
  done
  for n in "${nodes[@]}"; do
    cidr=${cidrs[$n]}
    docker exec -i "$n" sh -c 'mkdir -p /etc/cni/net.d && cat >/etc/cni/net.d/10-ferrolb-e2e.conflist' <<EOF
{"cniVersion": "1.0.0", "name": "ferrolb-e2e", "plugins": [
  {"type": "ptp", "ipMasq": true, "mtu": 1500,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
    for m in "${nodes[@]}"; do
      [ "$m" = "$n" ] && continue
      ip=${ips[$m]}
      docker exec "$n" ip route replace "${cidrs[$m]}" via "$ip"
    done
  done
}

service_ip() { kubectl get service "$1" -o jsonpath='{.status.loadBalancer.ingress[0].ip}'; }
service_port() { kubectl get service "$1" -o jsonpath='{.spec.ports[0].port}'; }
# The speakers' logs, on stderr, for a failure report; extra kubectl logs flags follow.
speaker_logs() { kubectl -n "$namespace" logs -l app.kubernetes.io/component=speaker --prefix "$@" >&2 || true; }
has_address() { test -n "$(service_ip "$1")"; }
has_pod_cidr() { test -n "$(kubectl get node "$1" -o jsonpath='{.spec.podCIDR}' 2>/dev/null)"; }
lease_holder() { kubectl -n "$namespace" get lease ferrolb-controller -o jsonpath='{.spec.holderIdentity}'; }
led_by_other_than() { local h; h=$(lease_holder); [ -n "$h" ] && [ "$h" != "$1" ]; }
no_pods_left() { test -z "$(kubectl -n "$namespace" get pods -o name)"; }
nft_programmed() { docker exec "$(owner_of "$1")" nft list table ip kube-proxy; }

# The node the Service's Announced condition names.
owner_of() {
  kubectl get service "$1" -o jsonpath='{.status.conditions[?(@.type=="ferrolb.io/Announced")].message}' |
    sed -n 's/.*announced by node \([^ ]*\) on interface.*/\1/p'
}

# The client reaches the address over HTTP; prints the answering Pod's name.
client_get() { # address port
  docker exec "$client" curl -sS --max-time 3 --retry 20 --retry-all-errors --retry-delay 1 "http://$1:$2/hostname"
}

# The MAC the client's kernel resolved for the address.
client_mac() { # address
  docker exec "$client" ip neigh show "$1" | sed -n 's/.* lladdr \([0-9a-f:]*\).*/\1/p'
}

# Traffic to the address reaches a backend through ARP answered by the owning node's speaker
# (the one its Announced condition names, once that has settled).
check_reaches() { # service
  local svc=$1 addr port owner pod
  settle "$svc"
  addr=$(service_ip "$svc")
  port=$(service_port "$svc")
  owner=$(owner_of "$svc")
  pod=$(client_get "$addr" "$port") || die "the client could not reach $addr:$port (service $svc)"
  log "service $svc: $addr:$port answered by pod $pod; ARP answered by $owner ($(client_mac "$addr"))"
}

# A client-side measurement, in the client: once a request has gone through old_mac it prints
# "ready"; the first time its kernel resolves the address to another MAC, "mac <ms> <mac>"; the
# first time a request succeeds through another MAC, "done <ms> <mac>". Bounded by 40 s.
measure_failover() { # address old_mac out_file
  docker exec "$client" bash -c '
    addr=$1 old=$2 ready=false moved=false end=$((SECONDS + 40))
    now() { echo $(($(date +%s%N) / 1000000)); }
    resolved() { ip neigh show "$addr" | sed -n "s/.* lladdr \([0-9a-f:]*\).*/\1/p"; }
    while [ $SECONDS -lt $end ]; do
      ok=false
      curl -s -o /dev/null --max-time 0.25 "http://$addr/hostname" && ok=true
      mac=$(resolved)
      if [ "$ready" = false ]; then
        if [ "$ok" = true ] && [ "$mac" = "$old" ]; then echo ready; ready=true; fi
      elif [ -n "$mac" ] && [ "$mac" != "$old" ]; then
        if [ "$moved" = false ]; then echo "mac $(now) $mac"; moved=true; fi
        if [ "$ok" = true ]; then echo "done $(now) $mac"; exit 0; fi
      fi
      sleep 0.02
    done
    echo timeout; ip neigh show "$addr"; exit 1' _ "$1" "$2" >"$3" 2>&1
}

declare -A figures
record() { # kind ms
  figures[$1]="${figures[$1]:+${figures[$1]} }$2"
  log "failover ($1): $2 ms"
}

wait_ready_cluster() {
  eventually 240 "every node Ready" kubectl wait node --all --for=condition=Ready --timeout=5s
  eventually 180 "the speakers to be ready" \
    kubectl -n "$namespace" rollout status "daemonset/$release-speaker" --timeout=5s
  eventually 180 "the echo Deployment to be available" kubectl rollout status deployment/echo --timeout=5s
}

speaker_pod_on() { # node
  kubectl -n "$namespace" get pods -l app.kubernetes.io/component=speaker \
    --field-selector "spec.nodeName=$1" -o jsonpath='{.items[0].metadata.name}'
}

# Waits until the owner of the service has stayed the same for 3 s and the client resolves the
# address to it: a speaker that just came back takes its addresses back (the ranking puts it
# first again), and a trial must start from a settled owner.
settle() { # service
  local svc=$1 addr owner deadline=$((SECONDS + 90)) since=$SECONDS last=""
  addr=$(service_ip "$svc")
  while :; do
    if [ $SECONDS -ge $deadline ]; then
      kubectl get service "$svc" -o jsonpath='{.status}' >&2
      speaker_logs --tail=20
      die "service $svc: no settled owner that the client reaches within 90 s (status and speaker logs above; the client resolves $addr to $(client_mac "$addr"))"
    fi
    owner=$(owner_of "$svc")
    if [ -z "$owner" ] || [ "$owner" != "$last" ]; then
      last=$owner; since=$SECONDS
    elif [ $((SECONDS - since)) -ge 3 ]; then
      docker exec "$client" ip neigh flush all
      client_get "$addr" "$(service_port "$svc")" >/dev/null
      [ "$(client_mac "$addr")" = "$(node_mac "$owner")" ] && return 0
      last=""
    fi
    sleep 0.5
  done
}

# One failover trial on echo-local: the fault ($2, given the owning node) is applied while the
# client sends requests; records the milliseconds until a request succeeds through another node.
trial_owner=""
trial_since=""
trial() { # label fault
  local label=$1 fault=$2 addr old out watcher t0 t1 tm
  settle echo-local
  addr=$(service_ip echo-local); trial_owner=$(owner_of echo-local); old=$(node_mac "$trial_owner")
  out=$(mktemp)
  measure_failover "$addr" "$old" "$out" &
  watcher=$!
  eventually 15 "the client to reach $addr through $trial_owner" grep -q '^ready' "$out"
  local since
  since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  trial_since=$since
  t0=$(now_ms)
  "$fault" "$trial_owner"
  if ! wait "$watcher"; then
    slow_trial_report "$since" "$out"
    die "$label on $trial_owner: no other node answered within 40 s"
  fi
  t1=$(sed -n 's/^done \([0-9]*\) .*/\1/p' "$out")
  tm=$(sed -n 's/^mac \([0-9]*\) .*/\1/p' "$out")
  record "$label" $((t1 - t0))
  # Above two seconds, say where the time went: the client's ARP entry, or the data path.
  if [ $((t1 - t0)) -gt 2000 ]; then
    log "slow trial: the client resolved the address to the new owner after $((tm - t0)) ms"
    slow_trial_report "$since" "$out"
  fi
  rm -f "$out"
}

slow_trial_report() { # since out_file
  log "the client's measurement:"; sed 's/^/  /' "$2" >&2
  log "speaker logs since $1:"
  speaker_logs --since-time="$1" --timestamps
}

# Whether a Pod matching the selector on the node has a container started at or after `since`
# (RFC 3339, UTC) that is ready. The API's view of a node just killed and started again says
# Ready for up to 40 s (until the node controller notices), so only fresh Pods prove it is back.
fresh_ready() { # namespace selector node since
  local started ready
  while read -r started ready; do
    if [ "$ready" = true ] && [[ ! "$started" < "$4" ]]; then return 0; fi
  done < <(kubectl -n "$1" get pods -l "$2" --field-selector "spec.nodeName=$3" \
    -o jsonpath='{range .items[*]}{.status.containerStatuses[0].state.running.startedAt} {.status.containerStatuses[0].ready}{"\n"}{end}')
  return 1
}

# After a trial: the faulted node runs a fresh speaker (and, after a restart, a fresh backend),
# so the next trial starts from a whole cluster.
wait_recovered() { # node since [backend]
  eventually 180 "a fresh speaker on $1" fresh_ready "$namespace" app.kubernetes.io/component=speaker "$1" "$2"
  if [ "${3:-}" = backend ]; then
    eventually 180 "a fresh echo Pod on $1" fresh_ready default app=echo "$1" "$2"
  fi
  wait_ready_cluster
}

delete_speaker() { kubectl -n "$namespace" delete pod "$(speaker_pod_on "$1")" --wait=false >/dev/null; }
kill_node() { docker kill "$1" >/dev/null; }

# A killed node comes back as after a power cycle; its pod routes are set up again.
restart_node() { # node
  docker start "$1" >/dev/null
  eventually 120 "node $1 to answer" docker exec "$1" true
  install_pod_network
}

summary() {
  local k
  for k in "${!figures[@]}"; do
    # shellcheck disable=SC2086 # the figures are a space-separated list of numbers
    python3 - "$k" ${figures[$k]} <<'PY'
import sys
kind, xs = sys.argv[1], sorted(int(x) for x in sys.argv[2:])
def pct(p):
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]
print(f"failover on kind, {kind}: {len(xs)} trials, p50 {pct(50)} ms, p95 {pct(95)} ms, max {xs[-1]} ms")
PY
  done
  if [ -n "$results" ]; then
    python3 - "$results" "${!figures[@]}" -- "${figures[@]}" <<'PY'
import json, sys
args = sys.argv[2:]
sep = args.index("--")
kinds, values = args[:sep], args[sep + 1:]
out = {k: sorted(int(x) for x in v.split()) for k, v in zip(kinds, values)}
with open(sys.argv[1], "w") as f:
    json.dump({"failover_ms": out}, f, indent=2)
PY
    log "results written to $results"
  fi
}

# --- the run ------------------------------------------------------------------------------------

main() {
  local start=$SECONDS
  docker network inspect kind >/dev/null 2>&1 || created_network=true
  kubeconfig=$(mktemp)
  export KUBECONFIG=$kubeconfig
  local config
  config=$(mktemp)
  {
    echo "kind: Cluster"
    echo "apiVersion: kind.x-k8s.io/v1alpha4"
    echo "networking: {disableDefaultCNI: true, kubeProxyMode: iptables}"
    echo "nodes: [{role: control-plane}, {role: worker}, {role: worker}]"
    if [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
      # kubelet refuses cgroup v1 hosts unless told otherwise.
      echo "kubeadmConfigPatches:"
      echo "  - |"
      echo "    kind: KubeletConfiguration"
      echo "    failCgroupV1: false"
    fi
  } >"$config"
  # A run killed before its clean-up (SIGKILL, a lost machine) leaves this suite's cluster.
  if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
    log "deleting cluster $cluster left by an earlier run"
    kind delete cluster --name "$cluster" >/dev/null 2>&1
  fi
  log "creating cluster $cluster from $node_image"
  kind create cluster --name "$cluster" --image "$node_image" --config "$config" --kubeconfig "$kubeconfig"
  rm -f "$config"
  install_pod_network
  eventually 240 "every node Ready" kubectl wait node --all --for=condition=Ready --timeout=5s
  # Service addresses (the API server's among them) work only once kube-proxy runs.
  eventually 180 "kube-proxy on every node" kubectl -n kube-system rollout status daemonset/kube-proxy --timeout=5s
  eventually 180 "CoreDNS" kubectl -n kube-system rollout status deployment/coredns --timeout=5s
  log "cluster ready after $((SECONDS - start)) s"

  # The user's path: build the images, load them, install the chart with its image defaults.
  make -C "$root" --no-print-directory images
  local tag
  tag=$(make -C "$root" --no-print-directory -s print-image-tag)
  local controller_image=ghcr.io/ferrolb/ferrolb-controller:$tag speaker_image=ghcr.io/ferrolb/ferrolb-speaker:$tag
  kind load docker-image --name "$cluster" "$controller_image" "$speaker_image" "$agnhost"

  local subnet used_csv out pool
  read -r -a subnets <<<"$(docker network inspect kind -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}')"
  used_csv=$(docker network inspect kind -f '{{range .Containers}}{{.IPv4Address}} {{.IPv6Address}} {{end}}{{range .IPAM.Config}}{{.Gateway}} {{end}}' |
    tr ' ' '\n' | sed 's|/.*||' | grep -v '^$' | paste -sd, -)
  subnet=""
  for s in "${subnets[@]}"; do [[ $s == *.* ]] && subnet=$s; done
  [ -n "$subnet" ] || die "the kind network has no IPv4 subnet (${subnets[*]})"
  out=$(carve_pool "$subnet" "$used_csv" "$pool_size")
  pool=$(sed -n 's/^pool: //p' <<<"$out")
  log "pool from the kind network $subnet: $pool"

  local set_args=() i=0 p
  IFS=, read -r -a parts <<<"$pool"
  for p in "${parts[@]}"; do set_args+=(--set "pools[0].addresses[$i]=$p"); i=$((i + 1)); done
  local t=$SECONDS
  helm install "$release" "$root/charts/ferrolb" --namespace "$namespace" --create-namespace \
    --set pools[0].name=kind "${set_args[@]}" --wait --timeout 180s
  log "helm install --wait: $((SECONDS - t)) s"
  kubectl -n "$namespace" get pods -o wide

  # A standby controller replica is Ready too, so the Deployment is fully available.
  [ "$(kubectl -n "$namespace" get deployment "$release-controller" -o jsonpath='{.status.availableReplicas}')" = 2 ] ||
    die "the controller Deployment does not have 2 available replicas"

  # One backend Pod per worker (at most one per node, so a drained worker gets its Pod back
  # when uncordoned): the Local Service below always has a ready endpoint on each worker.
  kubectl apply -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, labels: {app: echo}}
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: echo}}}
      containers:
        - name: agnhost
          image: $agnhost
          args: [netexec, --http-port=8080]
          ports: [{containerPort: 8080}]
          readinessProbe: {httpGet: {path: /hostname, port: 8080}, periodSeconds: 2}
EOF
  kubectl expose deployment echo --type=LoadBalancer --port=80 --target-port=8080
  # The failover trials use externalTrafficPolicy Local: traffic stays on the node that answers
  # ARP, so what is measured is ferrolb's takeover, not kube-proxy sending part of the requests
  # to the Pods of a dead node until the node controller notices.
  kubectl expose deployment echo --name echo-local --type=LoadBalancer --port=80 --target-port=8080 \
    --overrides='{"apiVersion": "v1", "spec": {"externalTrafficPolicy": "Local"}}'
  kubectl rollout status deployment/echo --timeout=120s
  eventually 60 "service echo to get an address" has_address echo
  local addr
  addr=$(service_ip echo)
  grep -qx "$addr" < <(sed -n 's/^pool address: //p' <<<"$out") ||
    die "service echo got $addr, which is not in the carved pool"
  log "service echo: $addr"

  # NET_ADMIN only to flush its own ARP cache between checks.
  docker run -d --name "$client" --network kind --cap-add NET_ADMIN --entrypoint sleep "$node_image" 3600 >/dev/null
  check_reaches echo
  eventually 60 "service echo-local to get an address" has_address echo-local
  check_reaches echo-local

  # The speaker must not answer on the CNI's veths: on nodes with Pods it opens eth0 only.
  local node pod opened
  for node in $(kind get nodes --name "$cluster"); do
    pod=$(speaker_pod_on "$node")
    opened=$(kubectl -n "$namespace" logs "$pod" | grep -v 'not answering' |
      sed -n 's/.*answering ARP\/NDP on interface interface=\([^ ]*\).*/\1/p' | sort -u | paste -sd' ' -)
    log "$node: interfaces $(docker exec "$node" ls /sys/class/net | paste -sd' ' -); the speaker answers on: $opened"
    [ "$opened" = eth0 ] || die "the speaker on $node answers on '$opened', not on eth0 alone"
  done

  # Drain: the PodDisruptionBudget lets one controller Pod go because the other is Ready.
  local worker
  worker=$(kubectl get pods -n "$namespace" -l app.kubernetes.io/component=controller -o jsonpath='{.items[0].spec.nodeName}')
  kubectl drain "$worker" --ignore-daemonsets --delete-emptydir-data --timeout=120s
  kubectl uncordon "$worker"
  wait_ready_cluster
  check_reaches echo

  local n
  for n in $(seq 1 "$trials"); do
    trial speaker-pod-deleted delete_speaker
    wait_recovered "$trial_owner" "$trial_since"
  done
  check_reaches echo
  for n in $(seq 1 "$trials"); do
    trial node-container-killed kill_node
    restart_node "$trial_owner"
    wait_recovered "$trial_owner" "$trial_since" backend
  done
  check_reaches echo

  # The leading controller Pod deleted: the standby takes the Lease, nothing moves, and it
  # allocates.
  local holder new_holder
  holder=$(lease_holder)
  kubectl -n "$namespace" delete pod "$holder" --wait=false
  t=$SECONDS
  eventually 90 "another controller replica to lead" led_by_other_than "$holder"
  new_holder=$(lease_holder)
  log "controller leader $holder deleted; $new_holder leads after $((SECONDS - t)) s"
  [ "$(service_ip echo)" = "$addr" ] || die "service echo moved from $addr to $(service_ip echo) on a leader change"
  kubectl expose deployment echo --name echo2 --type=LoadBalancer --port=81 --target-port=8080
  eventually 60 "the new leader to allocate for echo2" has_address echo2
  check_reaches echo2

  # helm upgrade that rolls every Pod of the release.
  t=$SECONDS
  helm upgrade "$release" "$root/charts/ferrolb" --namespace "$namespace" --reuse-values \
    --set-string controller.podAnnotations.e2e-roll="$t" --set-string speaker.podAnnotations.e2e-roll="$t" \
    --wait --timeout 300s
  log "helm upgrade --wait (every Pod rolled): $((SECONDS - t)) s"
  [ "$(service_ip echo)" = "$addr" ] || die "service echo moved from $addr on helm upgrade"
  wait_ready_cluster
  check_reaches echo

  # kube-proxy in nftables mode, switched the way an operator does it.
  kubectl -n kube-system get configmap kube-proxy -o yaml |
    sed 's/^\(\s*mode:\).*/\1 nftables/' | kubectl apply -f - >/dev/null
  kubectl -n kube-system rollout restart daemonset/kube-proxy
  kubectl -n kube-system rollout status daemonset/kube-proxy --timeout=120s
  eventually 60 "kube-proxy to program nftables" nft_programmed echo
  log "kube-proxy runs in nftables mode"
  check_reaches echo
  trial speaker-pod-deleted-nftables delete_speaker
  wait_recovered "$trial_owner" "$trial_since"
  check_reaches echo

  if [ -e /proc/net/ip_vs ]; then
    log "IPVS: this kernel has it, but the IPVS pass is not part of this suite yet"
  else
    log "IPVS: skipped, this kernel has no IPVS (/proc/net/ip_vs is missing)"
  fi

  # helm uninstall: nothing of the release is left and nobody answers for the address.
  helm uninstall "$release" --namespace "$namespace" --wait --timeout 120s
  eventually 90 "the release's Pods to be gone" no_pods_left
  local left
  left="$(kubectl get clusterroles,clusterrolebindings -o name | grep -i ferrolb || true)"
  left+="$(kubectl get ipaddresspools.ferrolb.io,l2advertisements.ferrolb.io -o name)"
  [ -z "$left" ] || die "left behind by helm uninstall: $left"
  docker exec "$client" ip neigh flush all
  if docker exec "$client" curl -s -o /dev/null --max-time 3 "http://$addr/hostname"; then
    die "$addr still answers after helm uninstall"
  fi
  log "helm uninstall: nothing left; $addr no longer answers"

  summary
  log "suite took $((SECONDS - start)) s"
}

main
