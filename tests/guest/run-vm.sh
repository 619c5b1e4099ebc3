#!/usr/bin/env bash
# Boot the Debian 12 guest (its stock 6.1 kernel, QEMU under TCG: KVM does not
# boot a stock kernel on these machines) and run the smoke tests in it against
# this checkout. The guest gets, over a 9p share, a copy of the checkout (on
# which it runs ./setup.sh, offline: build.sh put what it fetches in the image)
# and a folder for its results. Prints the guest's pytest output; exits with its exit code.
# Usage: run-vm.sh CACHE_DIR [TESTS...]
set -euo pipefail
CACHE=${1:?usage: run-vm.sh CACHE_DIR [TESTS...]}; shift
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
"$HERE/build.sh" "$CACHE"
# GUEST=bullseye-kernel boots the same root with bullseye's 5.10 kernel instead
if [ -n "${GUEST:-}" ]; then
  IMG="$CACHE/$GUEST.img" KERNEL="$CACHE/$GUEST.vmlinuz" INITRD="$CACHE/$GUEST.initrd"
else
  IMG="$CACHE/bookworm.img" KERNEL="$CACHE/vmlinuz" INITRD="$CACHE/initrd"
fi
SHARE=$(mktemp -d /tmp/scope-vm.XXXXXX)
trap 'rm -rf "$SHARE"' EXIT
mkdir -p "$SHARE/src" "$SHARE/out"
( cd "$REPO" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$SHARE/src" 2>/dev/null ) \
  || { echo "run-vm.sh: could not copy the checkout" >&2; exit 1; }
TESTS=${*:-tests/guest/smoke.txt}
cat > "$SHARE/run.sh" <<GUEST
set -e
cd /mnt/scope
cd src
echo "[guest] kernel \$(uname -r)"
# set-up as on any machine, offline: the image holds its packages and downloads
t0=\$(date +%s)
SCOPE_VENV=/opt/venv SCOPE_OFFLINE=/opt/wheels ./setup.sh
t1=\$(date +%s)
echo "[guest] set-up took \$((t1 - t0)) s"
/opt/venv/bin/python -m scope doctor || true
tests=\$(if [ -f "$TESTS" ]; then grep -v '^#' "$TESTS"; else echo "$TESTS"; fi)
/opt/venv/bin/python -m pytest -p no:cacheprovider -q -rA --durations=0 \$tests
echo "[guest] tests took \$(( \$(date +%s) - t1 )) s"
GUEST
echo "[vm] booting the Debian 12 guest (TCG)"
start=$(date +%s)
timeout 1500 qemu-system-x86_64 -accel tcg -cpu max -m 4096 -smp 2 -nographic -no-reboot \
  -kernel "$KERNEL" -initrd "$INITRD" \
  -append "root=/dev/vda rw console=ttyS0 init=/sbin/scope-init panic=-1 quiet" \
  -drive "file=$IMG,format=raw,if=virtio,snapshot=on" \
  -virtfs "local,path=$SHARE,mount_tag=scope,security_model=none,id=scope" \
  > "$CACHE/console.log" 2>&1 || true
echo "[vm] guest ran $(( $(date +%s) - start )) s"
cat "$SHARE/out/console.log" 2>/dev/null || { echo "run-vm.sh: the guest wrote no results; its console:" >&2;
                                              tail -30 "$CACHE/console.log" >&2; exit 1; }
rc=$(cat "$SHARE/out/rc" 2>/dev/null || echo 1)
exit "$rc"
