"""scope in a real Debian 12 guest: its stock 6.1 kernel (no uprobe_multi links),
booted under QEMU (TCG), running the smoke tests of tests/guest/smoke.txt
against this checkout (and the core of them with bullseye's 5.10 kernel) — exact counts through `scope run`, attach and detach
with the semaphores back to 0, a SIGKILLed collector leaving nothing, --inject,
--offcpu, children followed. The guest image is built once from Debian
packages (setup.sh's own list) and cached outside the checkout
(tests/guest/build.sh); in it, ./setup.sh runs offline before the tests."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

GUEST = Path(__file__).resolve().parents[1] / "guest"
CACHE = os.environ.get("SCOPE_GUEST_CACHE", "/var/cache/scope-guest")


def smoke_tests(listing: str) -> list[str]:
    return [line.strip() for line in (GUEST / listing).read_text().splitlines()
            if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("guest,listing,kernel", [
    ("", "smoke.txt", "6.1."),                              # Debian 12 as it ships
    ("bullseye-kernel", "smoke-5.10.txt", "5.10."),         # the oldest kernel Debian serves
], ids=["debian12-6.1", "bullseye-5.10"])
def test_the_smoke_tests_pass_in_a_debian_12_guest(guest, listing, kernel):
    if shutil.which("qemu-system-x86_64") is None or shutil.which("debootstrap") is None:
        pytest.skip("QEMU or debootstrap is not installed (./setup.sh installs both)")
    env = dict(os.environ, GUEST=guest)
    res = subprocess.run([str(GUEST / "run-vm.sh"), CACHE, f"tests/guest/{listing}"], capture_output=True,
                         text=True, timeout=1800, env=env)
    out = res.stdout + res.stderr
    print(out)
    assert f"[guest] kernel {kernel}" in out, out[-3000:]
    # the guest was set up by ./setup.sh itself (offline, as the Vagrantfile
    # provisions the same box online): packages found, scope installed, shim built
    for step in ("Debian packages present", "installing scope and its dependencies into /opt/venv",
                 "shim built for /usr/bin/python3.11", "version matrix not built (offline", "done: "):
        assert f"[setup] {step}" in out, (step, out[:3000])
    # the kernel was asked, and said: no uprobe_multi, so the perf path
    assert re.search(r"uprobe_multi +absent", out) and re.search(r"attach path +perf", out), out[:3000]
    # and its exit tracepoint has no group_dead field (the main thread's exit stands in)
    assert re.search(r"exit group_dead +absent", out), out[:3000]
    assert res.returncode == 0, out[-3000:]
    passed = re.search(r"(\d+) passed", out)
    assert passed and "failed" not in out.split("short test summary")[-1], out[-3000:]
    # every smoke test ran (a file counts its tests): no skip, no deselection
    assert "skipped" not in out and int(passed.group(1)) >= len(smoke_tests(listing))
