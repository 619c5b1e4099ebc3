#!/usr/bin/env bash
# Build (once) the root filesystems of the container tests, each as an ext4
# image the tests mount inside a new mount namespace only, as Docker and Podman
# mount a container's root:
#   sid.img       Debian unstable: python3.14 and python3.15, both built with USDT
#                 markers and needing a newer glibc than the host's (so they run
#                 only in their own root), with their headers;
#   bookworm.img  Debian 12: its python3.11 (markers) and headers — the gdb path
#                 of --inject (before 3.14) into a container.
# Each is rebuilt only when this recipe changes; the trees stay beside them
# (CACHE_DIR/root: sid's, read by the unit tests of the debug offsets).
# Usage: build.sh CACHE_DIR
set -euo pipefail
CACHE=${1:?usage: build.sh CACHE_DIR}
KEY=$(sha256sum < "$0" | cut -c1-16)
mkdir -p "$CACHE"
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

build() {   # build SUITE TREE PACKAGES
  local suite=$1 tree=$2 pkgs=$3
  if [ -f "$CACHE/$suite.img" ] && [ "$(cat "$CACHE/$suite.key" 2>/dev/null)" = "$KEY" ]; then
    echo "[container] $suite root up to date ($CACHE/$suite.img)"
    return
  fi
  rm -rf "$tree" "$CACHE/$suite.img" "$CACHE/$suite.key"
  mkdir -p "$tree"
  echo "[container] debootstrap $suite ($pkgs) into $tree"
  debootstrap --variant=minbase --include="$pkgs" "$suite" "$tree" "$MIRROR" >"$CACHE/$suite.log" 2>&1 \
    || { tail -20 "$CACHE/$suite.log" >&2; exit 1; }
  rm -rf "$tree"/var/cache/apt/archives/*.deb
  truncate -s 1G "$CACHE/$suite.img"
  mkfs.ext4 -q -F -d "$tree" "$CACHE/$suite.img"
  echo "$KEY" > "$CACHE/$suite.key"
  echo "[container] built $CACHE/$suite.img"
}

build sid "$CACHE/root" python3.14,python3.14-dev,python3.15,python3.15-dev
build bookworm "$CACHE/bookworm" python3.11,python3.11-dev
