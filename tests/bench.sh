#!/usr/bin/env bash
# `make bench`: every benchmark of ferrolb, each in a fresh lab, on release builds.
#
# A benchmark is a binary of the tests crate named ferrolb-bench-<name> (tests/bench/<name>.rs).
# Each prints its figures next to a reference measured in the same run, and writes a
# machine-readable result to target/bench/<name>.json.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export FERROLB_PROFILE=release
out=${FERROLB_BENCH_OUT:-${CARGO_TARGET_DIR:-$root/target}/bench}
mkdir -p "$out"
# The kind benchmark may start a Docker engine; stop it again if so.
trap 'tests/lab/docker-engine.sh stop' EXIT

cargo build --release --workspace --bins
names=$(sed -n 's/^name = "ferrolb-bench-\(.*\)"/\1/p' tests/Cargo.toml)
[ -n "$names" ] || { echo "bench: no benchmarks found in tests/Cargo.toml" >&2; exit 1; }
failed=0
for name in $names; do
  if [ -n "${FERROLB_BENCH:-}" ] && [ "$FERROLB_BENCH" != "$name" ]; then
    continue
  fi
  printf '\n== bench %s\n' "$name"
  if ! "${CARGO_TARGET_DIR:-$root/target}/release/ferrolb-bench-$name" --out "$out/$name.json"; then
    echo "bench $name failed" >&2
    failed=1
  fi
done
# Failover on real nodes: the kind suite with 10 trials of each kind of failure.
if [ -z "${FERROLB_BENCH:-}" ] || [ "$FERROLB_BENCH" = kind ]; then
  printf '\n== bench kind\n'
  if ! { tests/lab/install-deps.sh --docker && tests/kind/e2e.sh --trials "${FERROLB_KIND_TRIALS:-10}" --results "$out/kind.json"; }; then
    echo "bench kind failed" >&2
    failed=1
  fi
fi
# The failover plot (ferrolb next to MetalLB), with matplotlib from PyPI in a cached venv.
if [ -s "$out/speaker.json" ]; then
  venv="${XDG_CACHE_HOME:-$HOME/.cache}/ferrolb/bench/plot-venv"
  if ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
    python3 -m venv "$venv" && "$venv/bin/pip" install -q -r tests/bench/plot-requirements.txt
  fi
  if "$venv/bin/python" tests/bench/plot_failover.py "$out/speaker.json" "$out/failover.png"; then
    printf 'failover plot: %s\n' "$out/failover.png"
  else
    echo "bench: the failover plot failed" >&2
    failed=1
  fi
fi
printf '\nresults: %s\n' "$out"
exit "$failed"
