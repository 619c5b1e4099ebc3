#!/usr/bin/env bash
# Idempotent set-up for scope on Debian 12 (root). Used by `make setup`,
# `make test`, `make demo`, .ci/run and the Vagrantfile. Each step is skipped
# when already done, so a second run takes seconds.
#
#   ./setup.sh --packages   print the Debian packages scope needs (the Debian 12
#                           guest of tests/guest is built with exactly these)
#   SCOPE_OFFLINE=DIR       no network (that guest): the Debian packages must be
#                           installed already; Python packages and the test
#                           data come from DIR; the pyenv matrix is not built
#   SCOPE_VENV=DIR          the virtual environment (default ./.venv)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=${SCOPE_VENV:-$ROOT/.venv}
say() { printf '[setup] %s\n' "$*"; }
OFFLINE=${SCOPE_OFFLINE:-}

# bcc (Python bindings + tools), sys/sdt.h, Debian's python3.11 (has the USDT
# markers) with venv/dev, kernel headers for bcc, gcc for the shim, gdb for
# --inject before 3.14
PKGS="python3-bpfcc bpfcc-tools libbpfcc systemtap-sdt-dev python3.11 python3.11-venv python3.11-dev python3-pip linux-headers-amd64 binutils gcc make gdb procps linux-libc-dev"
# test tools of this machine, not needed inside the guest: the guest test itself
# (tests/guest: its image is built on first use and cached in /var/cache/scope-guest),
# and a real browser for the pictures scope draws (tests/integration/test_pictures.py)
VM_PKGS="debootstrap qemu-system-x86 chromium"
if [ "${1:-}" = --packages ]; then
  echo $PKGS
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: must run as root (it installs Debian packages and links kernel headers); run it with sudo" >&2
  exit 1
fi

# 1. Debian packages.
[ -n "$OFFLINE" ] || PKGS="$PKGS $VM_PKGS"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ] && [ -n "$OFFLINE" ]; then
  echo "setup.sh: Debian packages missing and SCOPE_OFFLINE is set (no network):$missing; install them first" >&2
  exit 1
elif [ -n "$missing" ]; then
  say "installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  say "Debian packages present"
fi

# 2. Kernel headers: the running kernel ships none; bcc finds headers through
#    /lib/modules/$(uname -r)/{build,source}. Debian's headers serve for the
#    uprobe/USDT/tracepoint programs scope uses.
KDIR=/lib/modules/$(uname -r)
if [ ! -e "$KDIR/build/include" ] && [ ! -e /sys/kernel/kheaders.tar.xz ]; then
  build=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -1)
  common=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -1)
  if [ -z "$build" ] || [ -z "$common" ]; then
    echo "setup.sh: no kernel headers under /usr/src; run: apt-get install linux-headers-amd64" >&2
    exit 1
  fi
  mkdir -p "$KDIR"
  ln -sfn "$build" "$KDIR/build"
  ln -sfn "$common" "$KDIR/source"
  say "linked kernel headers $build"
else
  say "kernel headers linked"
fi

# tracefs (tracepoint ids, the uprobe fallback) is not always mounted on a fresh VM
if [ ! -d /sys/kernel/tracing/events ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null && say "mounted tracefs" || say "warning: could not mount tracefs"
fi

# 3. Virtual environment on Debian's python3.11, reaching Debian's bcc module
#    (not on PyPI) through a link to just that folder.
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment $VENV"
  /usr/bin/python3.11 -m venv "$VENV"
fi
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ln -sfn /usr/lib/python3/dist-packages/bcc "$SITE/bcc"
stamp="$VENV/.scope-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.sh -nt "$stamp" ] || [ setup.py -nt "$stamp" ] || [ -n "$(find collector -name "_*.[ch]" -newer "$stamp")" ]; then
  say "installing scope and its dependencies into $VENV"
  if [ -n "$OFFLINE" ]; then
    # offline (the guests): the build requirements are installed ahead in the venv, so
    # no isolated build environment is made (under TCG that costs half a minute)
    "$VENV/bin/pip" install -q --no-index --find-links "$OFFLINE" --no-build-isolation -e ".[test]"
  else
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$VENV/bin/pip" install -q -e ".[test]"
  fi
  touch "$stamp"
else
  say "scope installed in $VENV"
fi

# 4. The shim, built for Debian's python3.11 (scope builds it for other
#    interpreters on first use, into the same cache).
"$VENV/bin/python" -c 'from scope.probes.shim import build_shim; build_shim("/usr/bin/python3.11")' \
  || { echo "setup.sh: building the shim failed" >&2; exit 1; }
say "shim built for /usr/bin/python3.11"

# 4b. The version matrix: pyenv's CPython builds without USDT markers
#     (tests/pyenv-versions.txt). Missing ones are built with pyenv; pyenv
#     itself is cloned when absent (a Vagrant VM). The tests fail, naming the
#     interpreter, if one is still missing (skips fail under make test and CI).
PYENV_ROOT=${PYENV_ROOT:-$HOME/.pyenv}
for v in $(grep -v '^#' tests/pyenv-versions.txt); do
  [ -n "$OFFLINE" ] && break
  [ -x "$PYENV_ROOT/versions/$v/bin/python${v%.*}" ] && continue
  if [ ! -x "$PYENV_ROOT/bin/pyenv" ]; then
    say "installing pyenv into $PYENV_ROOT (for the version matrix)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends git build-essential libssl-dev zlib1g-dev \
      libbz2-dev libreadline-dev libsqlite3-dev libffi-dev liblzma-dev libncurses-dev uuid-dev >/dev/null
    git clone -q --depth 1 https://github.com/pyenv/pyenv.git "$PYENV_ROOT"
  fi
  say "building CPython $v with pyenv (once; a few minutes)"
  PYENV_ROOT="$PYENV_ROOT" "$PYENV_ROOT/bin/pyenv" install -s "$v" \
    || say "warning: pyenv could not build CPython $v; the version-matrix tests will fail naming it"
done
if [ -n "$OFFLINE" ]; then
  say "version matrix not built (offline: SCOPE_OFFLINE); its tests would fail naming it"
else
  say "version matrix: $(grep -v '^#' tests/pyenv-versions.txt | tr '\n' ' ')"
fi

# 4c. The container tests' root: Debian unstable with python3.14 and python3.15
#     (their USDT markers; they need a newer glibc than Debian 12's, so they
#     run only in their own root), built once into /var/cache/scope-container.
if [ -n "$OFFLINE" ]; then
  say "container root not built (offline: SCOPE_OFFLINE)"
else
  tests/container/build.sh /var/cache/scope-container | sed 's/^/[setup] /'
fi

# 5. Test data from other projects, used as references by the tests: speedscope's
#    own JSON schema of its file format (tests/unit/test_export.py validates our
#    export against it). npm is on the machine; the package is pinned.
REF="$VENV/share/scope-tests"
if [ ! -f "$REF/speedscope-file-format-schema.json" ] && [ -n "$OFFLINE" ]; then
  install -D -m 0644 "$OFFLINE/speedscope-file-format-schema.json" "$REF/speedscope-file-format-schema.json" \
    || { echo "setup.sh: offline, and $OFFLINE has no speedscope-file-format-schema.json" >&2; exit 1; }
  say "speedscope's file format schema from $OFFLINE"
elif [ ! -f "$REF/speedscope-file-format-schema.json" ]; then
  command -v npm >/dev/null || { apt-get install -y -qq --no-install-recommends npm >/dev/null; }
  mkdir -p "$REF"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack -q speedscope@1.25.0 >/dev/null && tar xzf speedscope-1.25.0.tgz package/dist/release/file-format-schema.json) \
    || { echo "setup.sh: could not fetch speedscope's file format schema (npm pack speedscope@1.25.0)" >&2; exit 1; }
  cp "$tmp/package/dist/release/file-format-schema.json" "$REF/speedscope-file-format-schema.json"
  rm -rf "$tmp"
  say "fetched speedscope's file format schema"
fi

# 5b. A wheelhouse of what scope's wheel depends on (pyproject.toml: its build
#     requirements and dependencies), for the packaging test: it builds scope's
#     and the shim's wheels and installs them into a fresh venv, offline, from
#     here (tests/integration/test_wheel.py). Fetched again when pyproject.toml changes.
WHEELS=${SCOPE_WHEELS:-/var/cache/scope-wheels}
if [ -n "$OFFLINE" ]; then
  say "wheelhouse not fetched (offline: SCOPE_OFFLINE)"
else
  key=$(sha256sum pyproject.toml | cut -c1-16)
  if [ ! -f "$WHEELS/.pyproject-$key" ]; then
    deps=$("$VENV/bin/python" -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))
print(*p["build-system"]["requires"], *p["project"]["dependencies"])')
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    # shellcheck disable=SC2086
    "$VENV/bin/pip" download -q -d "$WHEELS" $deps wheel \
      || { echo "setup.sh: could not fetch the wheelhouse ($deps)" >&2; exit 1; }
    touch "$WHEELS/.pyproject-$key"
  fi
  say "wheelhouse up to date ($WHEELS)"
fi

# 6. `scope` on PATH.
ln -sfn "$VENV/bin/scope" /usr/local/bin/scope
say "done: $(command -v scope)"
