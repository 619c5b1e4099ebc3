import re

import pytest

from scope import kinds
from scope.probes.argspec import ArgSpecError, c_expression
from scope.probes.layout import header_constants, record_dtype
from scope.probes.plan import plan_probes, unsafe_request
from scope.probes.program import program_text, site_groups
from scope.probes.usdt import read_usdt_sites


def test_kinds_match_the_header():
    consts = header_constants()
    for code, name in kinds.NAMES.items():
        assert consts[f"SCOPE_K_{name.upper()}"] == code
    assert consts["SCOPE_D_REASONS"] == len(kinds.DROP_REASONS)
    for code, name in kinds.SHIM_ERRORS.items():
        assert consts[f"SCOPE_SHIM_E_{name.upper()}"] == code
    assert len([k for k in consts if k.startswith("SCOPE_SHIM_E_")]) == len(kinds.SHIM_ERRORS)


def test_constants_written_once_or_checked_against_the_header():
    """scope_events.h is the one definition; where a language cannot read it, a
    copy is checked here: flags (kinds.py), tracing states (kinds.py, the shim's
    _switch.py), the C correlator's kinds and flags (collector/_correlate.c)."""
    from pathlib import Path
    consts = header_constants()
    for name in ("RESUME", "YIELD", "RAISED", "CORO", "TRUNCATED", "REDACTED", "REPR", "USEC", "CLAMPED",
                 "CREATED", "DERIVED"):
        assert getattr(kinds, f"F_{name}") == consts[f"SCOPE_F_{name}"], name
    states = {k.removeprefix("SCOPE_TRACING_"): v for k, v in consts.items() if k.startswith("SCOPE_TRACING_")}
    assert states == {name: getattr(kinds, f"TRACING_{name}") for name in states} and len(states) == 7
    root = Path(__file__).resolve().parents[2]
    switch = (root / "usdt_shim" / "scope_shim" / "_switch.py").read_text()
    assert "ON, OFF, REFUSED = 1, 0, -1" in switch and "PAUSED, RESUMED = 4, 5" in switch
    assert (kinds.TRACING_ON, kinds.TRACING_OFF, kinds.TRACING_REFUSED) == (1, 0, -1)
    assert (kinds.TRACING_PAUSED, kinds.TRACING_RESUMED) == (4, 5)
    correlator = dict(re.findall(r"^#define (K_\w+|F_\w+) (\w+)$", (root / "collector" / "_correlate.c").read_text(),
                                 re.M))
    for name, value in correlator.items():
        assert int(value, 0) == consts[f"SCOPE_{name}"], name
    from scope.store import derive  # the calls table's `derived` bits: the C engine's copy
    bits = dict(re.findall(r"^#define (D_CALL|D_RETURN) (\w+)$", (root / "collector" / "_correlate.c").read_text(),
                           re.M))
    assert {k: int(v) for k, v in bits.items()} == {"D_CALL": derive.D_CALL, "D_RETURN": derive.D_RETURN}
    assert consts["SCOPE_RING_MAGIC"] == int.from_bytes(b"COPRING1", "little")     # ULL constants parse too


def test_record_layouts():
    ev = record_dtype("scope_event")
    assert ev.itemsize == 32
    assert ev.names == ("ts", "pid", "tid", "code", "line", "kind", "flags", "arg")
    assert record_dtype("scope_name").fields["file"][0].itemsize == header_constants()["SCOPE_FILE_MAX"]


@pytest.mark.parametrize("spec,expected", [
    ("8@%rbp", "((s64)(u64)ctx->bp)"),
    ("-4@%eax", "((s64)(s32)ctx->ax)"),
    ("-4@%r12d", "((s64)(s32)ctx->r12)"),
    ("4@$5", "((s64)(u32)(5))"),
])
def test_register_and_constant_args(spec, expected):
    assert c_expression(spec) == expected


def test_memory_arg():
    expr = c_expression("-4@112(%rsp)")
    assert "bpf_probe_read_user" in expr and "ctx->sp + (112)" in expr and "s32" in expr


@pytest.mark.parametrize("spec", ["8@x0", "3@%rax", "8@%xyz", "nonsense"])
def test_bad_specs(spec):
    with pytest.raises(ArgSpecError):
        c_expression(spec)


def test_python311_markers_and_plan():
    sites = read_usdt_sites("/usr/bin/python3.11")
    markers = {s.marker for s in sites}
    assert {"python:function__entry", "python:function__return", "python:line"} <= markers
    assert all(s.semaphore_offset for s in sites)
    plan = {c.marker: c for c in plan_probes((3, 11), sorted(markers))}
    assert not plan["python:line"].use and plan["python:line"].reason == "opt-in (--lines)"
    assert plan["python:function__return"].use
    assert "profile" in plan["python:function__entry"].reason


def test_line_is_opt_in_and_denied_on_311_unless_overridden():
    asked = plan_probes((3, 11), ["python:line"], lines=True)
    assert not asked[0].use and asked[0].reason.startswith("denied: ")
    forced = plan_probes((3, 11), ["python:line"], lines=True, allow_unsafe=frozenset({"python:line"}))
    assert forced[0].use and "UNSAFE" in forced[0].reason
    # a version without a deny entry attaches it on request alone
    assert plan_probes((3, 10), ["python:line"], lines=True)[0].use
    assert not plan_probes((3, 10), ["python:line"])[0].use


def test_unsafe_requests_are_checked_and_warned():
    markers = ["python:line", "python:gc__start"]
    with pytest.raises(ValueError, match="deny list for CPython 3.11") as refused:
        unsafe_request((3, 11), markers, lines=True, allow_unsafe=frozenset())
    assert "--unsafe-probe python:line" in refused.value.args[1]
    with pytest.raises(ValueError, match="nothing to override"):
        unsafe_request((3, 11), markers, lines=False, allow_unsafe=frozenset({"python:gc__start"}))
    with pytest.raises(ValueError, match="without --lines"):
        unsafe_request((3, 11), markers, lines=False, allow_unsafe=frozenset({"python:line"}))
    with pytest.raises(ValueError, match="lacks"):
        unsafe_request((3, 11), ["python:gc__start"], lines=True, allow_unsafe=frozenset())
    warnings = unsafe_request((3, 11), markers, lines=True, allow_unsafe=frozenset({"python:line"}))
    assert len(warnings) == 1 and warnings[0].startswith("scope: warning: attaching python:line")
    assert unsafe_request((3, 10), markers, lines=True, allow_unsafe=frozenset()) == []


def test_program_has_one_entry_point_per_binary_and_a_case_per_site():
    sites = [s for s in read_usdt_sites("/usr/bin/python3.11") if s.name != "line"]
    groups = site_groups(sites)
    # the call sites apart (--max-overhead pauses them), the rest together
    assert [(g.path, g.calls) for g in groups] == [("/usr/bin/python3.11", False),
                                                   ("/usr/bin/python3.11", True)]
    assert {s.name for s in groups[1].sites} == {"function__entry", "function__return"}
    text = program_text(groups)
    assert len(re.findall(r"^int scope_binary_\d+\(struct pt_regs \*ctx\)", text, re.M)) == 2
    assert len(re.findall(r"^    case \d+:   /\* python:", text, re.M)) == len(sites)


def test_tracing_site_is_attached_last():
    from scope.probes.usdt import UsdtSite

    def make(marker, path):
        return UsdtSite(path, *marker.split(":"), 0, 0, 0, 0, ())
    sites = [make("scope:tracing", "/shim.so"), make("scope:ring", "/shim.so"),
             make("python:gc__start", "/py")]
    groups = site_groups(sites)
    assert [g.path for g in groups] == ["/shim.so", "/py"]
    assert [s.marker for s in groups[0].sites] == ["scope:ring", "scope:tracing"]


def test_an_older_shims_sites_without_the_added_arguments_still_attach():
    from scope.probes.program import _site_call
    from scope.probes.usdt import UsdtSite
    old = UsdtSite("/shim.so", "scope", "ring", 0, 0, 0, 0, ("-4@%eax", "8@%rbx"))
    new = UsdtSite("/shim.so", "scope", "ring", 0, 0, 0, 0, ("-4@%eax", "8@%rbx", "8@%rcx"))
    assert _site_call(old).endswith(", 0)")                  # the image token: unknown
    assert _site_call(new) == "on_shim_ring(ctx, ((s64)(s32)ctx->ax), ((s64)(u64)ctx->bx), " \
                              "((s64)(u64)ctx->cx))"
    short = UsdtSite("/shim.so", "scope", "ring", 0, 0, 0, 0, ("-4@%eax",))
    with pytest.raises(ValueError, match="has 1 arguments"):
        _site_call(short)


def test_generator_creation_is_ended_only_where_entries_fire_for_it():
    """_Py_MakeCoro's probe ends the call of a generator function's frame that only
    created its generator: needed with 3.12+'s own entry marker (3.15 has one), not
    with the shim's calls nor on 3.11 (whose entries fire only under a profiler)."""
    from scope.probes.plan import GENERATOR_MADE
    from scope.probes.usdt import UsdtSite
    assert header_constants()["SCOPE_F_CREATED"] == kinds.F_CREATED
    calls = ["python:function__entry", "python:function__return"]

    def used(version, markers):
        return {c.marker: c.use for c in plan_probes(version, markers + [GENERATOR_MADE])}[GENERATOR_MADE]
    assert used((3, 15), calls)
    assert not used((3, 11), calls)
    assert not used((3, 14), ["python:gc__start"])               # no entry marker to end
    assert not used((3, 15), calls + ["scope:call", "scope:ret"])  # the shim's calls instead
    sites = [UsdtSite("/py", "python", "function__entry", 0, 0, 0, 0, ("8@%rbx", "8@%r12", "-4@%eax")),
             UsdtSite("/py", "uprobe", "_Py_MakeCoro", 0, 16, 0, 0, ())]
    groups = site_groups(sites)
    assert [(g.calls, len(g.sites)) for g in groups] == [(True, 2)]   # paused with the calls
    text = program_text(groups)
    assert text.startswith("#define SCOPE_GENERATORS 1\n") and "return on_generator_made(ctx);" in text
    assert "SCOPE_GENERATORS" not in program_text(site_groups(sites[:1])).split("\n", 1)[0]
