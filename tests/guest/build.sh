#!/usr/bin/env bash
# Build (once) the Debian 12 guests the VM tests boot: a bookworm root with its
# stock kernel (6.1) — and the same root with bullseye's 5.10 kernel added, its
# own image — Debian's python3.11 and bcc, kernel headers, gdb, and a
# virtual environment with scope's dependencies (from PyPI, fetched here on the
# host: the guest has no network). The image is rebuilt only when this recipe
# changes. Usage: build.sh CACHE_DIR  -> CACHE_DIR/bookworm.img, vmlinuz, initrd,
# bullseye-kernel.{img,vmlinuz,initrd}
set -euo pipefail
CACHE=${1:?usage: build.sh CACHE_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
KEY=$(cat "$0" | sha256sum | cut -c1-16)
mkdir -p "$CACHE"
if [ -f "$CACHE/bookworm.img" ] && [ "$(cat "$CACHE/bookworm.key" 2>/dev/null)" = "$KEY" ]; then
  echo "[guest] image up to date ($CACHE/bookworm.img)"
  exit 0
fi
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOT="$CACHE/root"
rm -rf "$ROOT" "$CACHE/bookworm.img"
mkdir -p "$ROOT"
PKGS="linux-image-amd64 linux-headers-amd64 kmod python3.11 python3.11-venv python3.11-dev python3-bpfcc
bpfcc-tools libbpfcc systemtap-sdt-dev gcc make binutils procps gdb"
echo "[guest] debootstrap bookworm into $ROOT"
debootstrap --variant=minbase --include=ca-certificates bookworm "$ROOT" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
  || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
trap 'umount "$ROOT/proc" "$ROOT/dev" 2>/dev/null || true' EXIT
echo "[guest] Debian packages (apt resolves their dependencies)"
chroot "$ROOT" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  --no-install-recommends $(echo $PKGS)" >>"$CACHE/debootstrap.log" 2>&1 \
  || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
echo "[guest] virtual environment with scope's dependencies"
# fetched by the host's pip (its index, proxy and certificates), installed offline:
# the host's venv runs the same Debian python3.11, so the wheels fit
PIP="$HERE/../../.venv/bin/pip"
[ -x "$PIP" ] || PIP="/usr/bin/python3.11 -m pip"
rm -rf "$CACHE/wheels"
# (setuptools and wheel stay in /opt/wheels: the guest installs the checkout
# itself, editable as set-up does, offline)
DEPS='pyarrow>=14 numpy>=1.24 duckdb>=1.0 textual>=8.0 psutil>=5.9 pyelftools>=0.29 pytest>=7.4'
$PIP download -q -d "$CACHE/wheels" $DEPS "setuptools>=77" wheel
mkdir -p "$ROOT/opt/wheels"
cp "$CACHE"/wheels/* "$ROOT/opt/wheels/"
chroot "$ROOT" /usr/bin/python3.11 -m venv /opt/venv
chroot "$ROOT" /opt/venv/bin/pip install -q --no-index --find-links /opt/wheels $DEPS
ln -sfn /usr/lib/python3/dist-packages/bcc "$ROOT/opt/venv/lib/python3.11/site-packages/bcc"
chroot "$ROOT" apt-get clean
umount "$ROOT/proc" "$ROOT/dev"
trap - EXIT
# the guest's init: mount what the tests need, run the script on the share, power off
install -m 0755 "$HERE/init.sh" "$ROOT/sbin/scope-init"
mkdir -p "$ROOT/mnt/scope"
cp "$ROOT"/boot/vmlinuz-* "$CACHE/vmlinuz"
cp "$ROOT"/boot/initrd.img-* "$CACHE/initrd"
echo "[guest] ext4 image"
truncate -s 4G "$CACHE/bookworm.img"
mkfs.ext4 -q -F -d "$ROOT" "$CACHE/bookworm.img"
# the second guest: the same root with the oldest kernel Debian still serves,
# bullseye's 5.10 (no attach cookies for perf-event uprobes: below 5.15, as RHEL 9)
echo "[guest] the same root with bullseye's 5.10 kernel"
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
trap 'umount "$ROOT/proc" "$ROOT/dev" 2>/dev/null || true' EXIT
echo "deb $MIRROR bullseye main" > "$ROOT/etc/apt/sources.list.d/bullseye.list"
OLD=$(chroot "$ROOT" sh -c "apt-get update -qq && apt-cache search --names-only '^linux-image-5\.10\.[0-9-]*-amd64\$'" \
      | awk '{print $1}' | sort -V | tail -1)
[ -n "$OLD" ] || { echo "build.sh: bullseye has no 5.10 kernel on $MIRROR" >&2; exit 1; }
chroot "$ROOT" sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  $OLD ${OLD/image/headers}" >>"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
chroot "$ROOT" apt-get clean
umount "$ROOT/proc" "$ROOT/dev"
trap - EXIT
VER=${OLD#linux-image-}
cp "$ROOT/boot/vmlinuz-$VER" "$CACHE/bullseye-kernel.vmlinuz"
cp "$ROOT/boot/initrd.img-$VER" "$CACHE/bullseye-kernel.initrd"
truncate -s 4G "$CACHE/bullseye-kernel.img"
mkfs.ext4 -q -F -d "$ROOT" "$CACHE/bullseye-kernel.img"
rm -rf "$ROOT"
echo "$KEY" > "$CACHE/bookworm.key"
echo "[guest] built $CACHE/bookworm.img and bullseye-kernel.img ($VER)"
