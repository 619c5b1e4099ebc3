#!/usr/bin/env bash
# Build (once) the root filesystem of the container tests: Debian unstable
# (sid) with python3.14 and python3.15 — both built with USDT markers, both
# needing a newer glibc than the host's, so they run only in their own root —
# and their headers (the shim is built for them from these). An ext4 image of
# it is what the tests mount, inside a new mount namespace only, as Docker and
# Podman mount a container's root. Rebuilt only when this recipe changes.
# Usage: build.sh CACHE_DIR  -> CACHE_DIR/root (the tree), CACHE_DIR/sid.img
set -euo pipefail
CACHE=${1:?usage: build.sh CACHE_DIR}
KEY=$(sha256sum < "$0" | cut -c1-16)
mkdir -p "$CACHE"
if [ -f "$CACHE/sid.img" ] && [ "$(cat "$CACHE/sid.key" 2>/dev/null)" = "$KEY" ]; then
  echo "[container] root up to date ($CACHE/sid.img)"
  exit 0
fi
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOT="$CACHE/root"
rm -rf "$ROOT" "$CACHE/sid.img" "$CACHE/sid.key"
mkdir -p "$ROOT"
echo "[container] debootstrap sid (python3.14, python3.15) into $ROOT"
debootstrap --variant=minbase --include=python3.14,python3.14-dev,python3.15,python3.15-dev \
  sid "$ROOT" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
rm -rf "$ROOT"/var/cache/apt/archives/*.deb
truncate -s 1G "$CACHE/sid.img"
mkfs.ext4 -q -F -d "$ROOT" "$CACHE/sid.img"
echo "$KEY" > "$CACHE/sid.key"
echo "[container] built $CACHE/sid.img"
