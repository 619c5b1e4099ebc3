#!/usr/bin/env bash
# Build (once) the Debian 12 guests the VM tests boot: a bookworm root with its
# stock kernel (6.1) — and the same root with bullseye's 5.10 kernel added, its
# own image — holding exactly the Debian packages setup.sh installs
# (`setup.sh --packages`) and, in /opt/wheels, everything else set-up would
# fetch: scope's Python dependencies (pyproject.toml's, test extra included)
# and the test data. The guest has no network: it runs ./setup.sh with
# SCOPE_OFFLINE=/opt/wheels (run-vm.sh). The image is rebuilt only when this
# recipe, set-up's package list or pyproject.toml changes. Usage: build.sh CACHE_DIR  -> CACHE_DIR/bookworm.img, vmlinuz, initrd,
# bullseye-kernel.{img,vmlinuz,initrd}
set -euo pipefail
CACHE=${1:?usage: build.sh CACHE_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
KEY=$( (cat "$0" "$REPO/pyproject.toml"; "$REPO/setup.sh" --packages) | sha256sum | cut -c1-16)
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
# the kernel and kmod (the guest's init loads 9p) are the guest's own
PKGS="linux-image-amd64 kmod $("$REPO/setup.sh" --packages)"
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
echo "[guest] what set-up fetches, for the guest's offline set-up"
# fetched by the host's pip (its index, proxy and certificates); the host's
# venv runs the same Debian python3.11, so the wheels fit
PIP="$REPO/.venv/bin/pip"
[ -x "$PIP" ] || PIP="/usr/bin/python3.11 -m pip"
DEPS=$(/usr/bin/python3.11 -c 'import tomllib; p = tomllib.load(open("'"$REPO"'/pyproject.toml", "rb"))
print(*p["build-system"]["requires"], *p["project"]["dependencies"], *p["project"]["optional-dependencies"]["test"])')
rm -rf "$CACHE/wheels"
$PIP download -q -d "$CACHE/wheels" $DEPS wheel
mkdir -p "$ROOT/opt/wheels"
cp "$CACHE"/wheels/* "$ROOT/opt/wheels/"
SCHEMA="$REPO/.venv/share/scope-tests/speedscope-file-format-schema.json"
[ -f "$SCHEMA" ] || { echo "build.sh: run setup.sh on the host first (no $SCHEMA)" >&2; exit 1; }
cp "$SCHEMA" "$ROOT/opt/wheels/"
# the dependencies installed ahead, as a second set-up run finds them: under
# TCG, installing them on every boot would cost minutes
chroot "$ROOT" /usr/bin/python3.11 -m venv /opt/venv
chroot "$ROOT" /opt/venv/bin/pip install -q --no-index --find-links /opt/wheels $DEPS
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
