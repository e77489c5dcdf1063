#!/usr/bin/env bash
# Warns when the disk is too small for `make test`: the build (target/), the lab tools and the
# kind images need about NEED_GB gigabytes on a fresh machine. A warning, not a failure: the
# numbers differ between machines, but "No space left on device" halfway through a suite is
# hard to read, and this says where the space goes.
set -euo pipefail

need_gb=${FERROLB_DISK_NEED_GB:-25}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
free_gb() { df -P -BG "$1" 2>/dev/null | awk 'NR == 2 { sub("G", "", $4); print $4 }'; }

seen=""
for dir in "$root" "${XDG_CACHE_HOME:-$HOME/.cache}" /var/lib /tmp; do
  [ -d "$dir" ] || continue
  fs=$(df -P "$dir" 2>/dev/null | awk 'NR == 2 { print $1 }')
  case " $seen " in *" $fs "*) continue ;; esac
  seen="$seen $fs"
  free=$(free_gb "$dir")
  [ -n "$free" ] || continue
  if [ "$free" -lt "$need_gb" ]; then
    echo "disk check: only ${free} GB free on the file system of $dir; a first 'make test' needs about ${need_gb} GB" >&2
    echo "disk check: the largest users of space it knows of:" >&2
    du -sh "$root/target" "${XDG_CACHE_HOME:-$HOME/.cache}/ferrolb" "${XDG_CACHE_HOME:-$HOME/.cache}/go-build" \
      "$(go env GOMODCACHE 2>/dev/null || echo "$HOME/go/pkg/mod")" /var/lib/docker 2>/dev/null | sed 's/^/disk check:   /' >&2 || true
  fi
done
exit 0
