#!/usr/bin/env bash
# The end-to-end path on a kind cluster, for people with Docker: a 3-node kind cluster, a pool
# carved from the `kind` Docker network (IPv4 and IPv6) out of addresses no container uses, the
# images built and loaded, the chart installed, and checks from the Docker host (ARP with
# arping, traffic with curl). Everything it creates is deleted when it ends, even on failure.
#
#   tests/kind/e2e.sh [--keep] [--pool-size N] [--cluster NAME]
#   tests/kind/e2e.sh --dry-run --subnet CIDR [--subnet CIDR] [--used IP,IP,...] [--pool-size N]
#
# --dry-run prints the steps and the computed pool without running anything (no Docker needed);
# --subnet and --used stand in for what `docker network inspect kind` would report.
#
# Needs: docker, kind, kubectl, helm, python3 (address arithmetic), arping and curl on the host,
# which must reach the kind network directly (Linux; not Docker Desktop's VM).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

cluster=ferrolb-e2e
namespace=ferrolb-system
pool_size=16
dry_run=false
keep=false
subnets=()
used=""
tag=e2e
kind_config=""

die() { echo "kind e2e: $*" >&2; exit 1; }
log() { echo "kind e2e: $*" >&2; }

while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) dry_run=true; shift ;;
    --keep) keep=true; shift ;;
    --cluster) cluster=$2; shift 2 ;;
    --pool-size) pool_size=$2; shift 2 ;;
    --subnet) subnets+=("$2"); shift 2 ;;
    --used) used=$2; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $pool_size =~ ^[1-9][0-9]*$ ]] || die "--pool-size must be a positive number, not '$pool_size'"

# Runs a step, or only prints it with --dry-run.
step() {
  echo "step: $*"
  if [ "$dry_run" = false ]; then "$@"; fi
}

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

# --- what Docker reports ------------------------------------------------------------------------

kind_subnets() {
  docker network inspect kind -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}'
}

kind_used() {
  docker network inspect kind \
    -f '{{range .Containers}}{{.IPv4Address}} {{.IPv6Address}} {{end}}' |
    tr ' ' '\n' | sed 's|/.*||' | grep -v '^$' | paste -sd, -
}

kind_gateways() {
  docker network inspect kind -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}' |
    tr ' ' '\n' | grep -v '^$' | paste -sd, -
}

# --- the run ------------------------------------------------------------------------------------

cleanup() {
  local rc=$?
  rm -f "$kind_config"
  if [ "$keep" = true ]; then
    log "--keep: leaving cluster $cluster (delete it with: kind delete cluster --name $cluster)"
  else
    step kind delete cluster --name "$cluster" >&2 || true
  fi
  exit $rc
}

write_kind_config() {
  cat <<'EOF'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  ipFamily: dual
nodes:
  - role: control-plane
  - role: worker
  - role: worker
EOF
}

# Some node answers ARP (IPv4) or NDP (IPv6) for the address, and HTTP reaches the backend.
check_address() { # address
  local addr=$1 url
  if [[ $addr == *:* ]]; then
    step ndisc6 -r 3 "$addr" "$(host_interface "$addr")"
    url="http://[$addr]/hostname"
  else
    step arping -c 3 -w 5 "$addr"
    url="http://$addr/hostname"
  fi
  step curl -sS --max-time 5 --retry 10 --retry-all-errors --retry-delay 1 "$url"
}

# The host interface facing the kind network for an address (the Docker bridge).
host_interface() { # address
  if [ "$dry_run" = true ]; then
    echo "<kind bridge>"
  else
    ip -o route get "$1" | sed -n 's/.* dev \([^ ]*\).*/\1/p'
  fi
}

main() {
  if [ "$dry_run" = true ]; then
    [ ${#subnets[@]} -gt 0 ] || die "--dry-run needs --subnet (what 'docker network inspect kind' would report)"
  else
    for c in docker kind kubectl helm python3 arping curl; do
      command -v "$c" >/dev/null 2>&1 || die "'$c' is missing"
    done
    trap cleanup EXIT
    trap 'exit 130' INT TERM
  fi

  kind_config=$(mktemp)
  write_kind_config >"$kind_config"
  step kind create cluster --name "$cluster" --config "$kind_config" --wait 120s

  if [ "$dry_run" = false ]; then
    # The nodes exist now, so their addresses are in the network's container list.
    read -r -a subnets <<<"$(kind_subnets)"
    used="$(kind_used),$(kind_gateways)"
  fi
  log "kind network subnets: ${subnets[*]}; in use: ${used:-none}"

  local subnet out pool_addresses=() all_addresses=()
  for subnet in "${subnets[@]}"; do
    out=$(carve_pool "$subnet" "$used" "$pool_size")
    echo "$out"
    pool_addresses+=("$(sed -n 's/^pool: //p' <<<"$out")")
    while read -r a; do all_addresses+=("$a"); done < <(sed -n 's/^pool address: //p' <<<"$out")
  done

  step docker build -f "$root/controller/Dockerfile" -t "ferrolb/ferrolb-controller:$tag" "$root"
  step docker build -f "$root/speaker/Dockerfile" -t "ferrolb/ferrolb-speaker:$tag" "$root"
  step kind load docker-image --name "$cluster" "ferrolb/ferrolb-controller:$tag" "ferrolb/ferrolb-speaker:$tag"

  local set_args=() i=0 csv p
  for csv in "${pool_addresses[@]}"; do
    IFS=, read -r -a parts <<<"$csv"
    for p in "${parts[@]}"; do
      set_args+=(--set "pools[0].addresses[$i]=$p")
      i=$((i + 1))
    done
  done
  step helm install ferrolb "$root/charts/ferrolb" --namespace "$namespace" --create-namespace \
    --set pools[0].name=kind --set controller.image.repository=ferrolb/ferrolb-controller \
    --set controller.image.tag="$tag" --set speaker.image.repository=ferrolb/ferrolb-speaker \
    --set speaker.image.tag="$tag" --set controller.image.pullPolicy=Never \
    --set speaker.image.pullPolicy=Never "${set_args[@]}" --wait --timeout 180s

  # A backend whose pods answer with their node name, behind a dual-stack LoadBalancer Service.
  step kubectl create deployment echo --image=registry.k8s.io/e2e-test-images/agnhost:2.53 \
    --replicas=3 -- /agnhost netexec --http-port=8080
  step kubectl expose deployment echo --type=LoadBalancer --port=80 --target-port=8080 \
    --overrides='{"spec":{"ipFamilyPolicy":"PreferDualStack"}}'
  step kubectl rollout status deployment/echo --timeout=120s
  step kubectl wait service/echo --for=jsonpath='{.status.loadBalancer.ingress[0].ip}' --timeout=60s

  local addr ingress=()
  if [ "$dry_run" = true ]; then
    ingress=("${all_addresses[0]}")
  else
    read -r -a ingress <<<"$(kubectl get service echo -o jsonpath='{.status.loadBalancer.ingress[*].ip}')"
  fi
  for addr in "${ingress[@]}"; do
    printf '%s\n' "${all_addresses[@]}" | grep -qx "$addr" ||
      die "service echo got $addr, which is not in the carved pool"
    log "service echo has $addr"
    check_address "$addr"
  done
  step kubectl get service echo -o jsonpath='{.status.conditions}'
  if [ "$dry_run" = true ]; then
    step kind delete cluster --name "$cluster"
  fi
  [ "$dry_run" = false ] || rm -f "$kind_config"
  log "passed"
}

main
