"""The attach path follows from what the kernel offers (probes/features.py), never
from its version string; asking for a path the kernel lacks is one clear error."""
import pytest

from scope.probes.features import Features, choose, detect, requested_mode

TPS = {"sched/sched_switch": True}


def kernel(**over) -> Features:
    base = dict(release="test", ringbuf=True, uprobe_multi=True, uprobe_pmu=True, ref_ctr=True, tracepoints=TPS)
    return Features(**{**base, **over})


@pytest.mark.parametrize("features,requested,mode", [
    (kernel(), "auto", "multi"),                                  # 6.6+
    (kernel(uprobe_multi=False), "auto", "perf"),                 # Debian 12's 6.1, Ubuntu 22.04, RHEL 9
    (kernel(), "perf", "perf"),                                   # forced: both paths tested on a new kernel
    (kernel(), "multi", "multi"),
    (kernel(uprobe_multi=False, release="6.1.0-bogus-99.99"), "auto", "perf"),   # the string is never read
])
def test_the_path_follows_the_features(features, requested, mode):
    choice = choose(requested, features)
    assert choice.mode == mode and choice.reason


@pytest.mark.parametrize("features,requested,needle", [
    (kernel(uprobe_multi=False), "multi", "no uprobe_multi links"),
    (kernel(ref_ctr=False), "perf", "reference counters"),
    (kernel(uprobe_pmu=False), "perf", "no perf uprobe PMU"),
    (kernel(ringbuf=False), "auto", "ring buffer"),                # below 5.8: nothing to do
    (kernel(uprobe_multi=False, ref_ctr=False), "auto", "neither"),
    (kernel(), "fast", "not one of"),
])
def test_what_cannot_work_is_refused_with_its_fix(features, requested, needle):
    with pytest.raises(ValueError) as err:
        choose(requested, features)
    message, fix = err.value.args
    assert needle in message and fix


def test_the_request_comes_from_the_option_then_the_environment(monkeypatch):
    monkeypatch.delenv("SCOPE_ATTACH_MODE", raising=False)
    assert requested_mode(None) == "auto"
    monkeypatch.setenv("SCOPE_ATTACH_MODE", "perf")
    assert requested_mode(None) == "perf" and requested_mode("multi") == "multi"


def test_this_kernel_is_asked(request):
    """On this machine (6.18, root): every feature present, found by trying it."""
    import os
    if os.geteuid() != 0:
        pytest.skip("asking the kernel needs root")
    f = detect()
    assert f.ringbuf and f.uprobe_multi and f.uprobe_pmu and f.ref_ctr
    assert all(f.tracepoints.values())
