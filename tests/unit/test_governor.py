"""The --max-overhead governor's schedule on a simulated target."""
from scope.collector.governor import ALWAYS_ON, Governor, capture_on


def simulate(ratio: float, cap: float, seconds: float = 30.0, dt: float = 0.005, true_ns: float = 200):
    """A busy target (1 CPU second per second) whose capture, while on, costs `ratio`
    of its own work, each record really costing `true_ns` while the governor
    assumes 200 ns. Returns the slowdown it saw on average and the schedules set."""
    cost = true_ns * 1e-9
    gov = Governor(cap, ns_per_event=200)
    on, cycle = gov.start(0.0)
    schedule = (0, int(on * 1e9), int(cycle * 1e9))
    work = spent = 0.0
    changes = 0
    t = 0.0
    while t < seconds:
        active = capture_on(schedule, int(t * 1e9))
        # CPU splits between the program's own work and capture: ratio = capture / work
        share = ratio / (1 + ratio) if active else 0.0
        events = share * dt / cost
        work += dt * (1 - share)
        spent += dt
        t += dt
        new = gov.step(t, int(events), dt)
        if new is not None:
            changes += 1
            schedule = ALWAYS_ON + (0,) if new == ALWAYS_ON else (int(t * 1e9), int(new[0] * 1e9),
                                                                   int(new[1] * 1e9))
    return spent / work - 1, changes, gov


def test_cheap_capture_stays_on():
    slowdown, changes, gov = simulate(ratio=0.02, cap=5)
    assert gov.duty == 1.0 and changes == 1 and abs(slowdown - 0.02) < 0.002


def test_expensive_capture_is_duty_cycled_to_the_cap():
    for ratio in (0.06, 0.2, 1.0, 5.6):
        slowdown, _, gov = simulate(ratio=ratio, cap=5)
        assert 0.035 <= slowdown <= 0.06, (ratio, slowdown)     # the first 0.1 s runs uncapped
        assert abs(gov.duty * ratio / (1 + ratio) - 0.05 / 1.05) < 0.005     # steady state: at the cap
        assert abs(gov.share - ratio / (1 + ratio)) <= 0.05     # CPU share of capture while on


def test_idle_target_is_always_recorded():
    gov = Governor(5, ns_per_event=1000)
    gov.start(0.0)
    assert gov.step(0.2, 0, 0.0) == ALWAYS_ON
    assert gov.duty == 1.0


def test_the_cap_is_only_as_true_as_the_cost_the_governor_assumes():
    """Not a mirror of the implementation: the records really cost twice (or half)
    what the governor assumes. It counts records, not time, so the slowdown it
    holds scales with the error — which is why the cap is checked on real
    targets (bench/test_governor.py), where the shim's ring holds it and the
    uprobe path does not yet (bench/RESULTS.md)."""
    for true_ns, low, high in ((400, 0.08, 0.12), (100, 0.015, 0.035)):
        slowdown, _, _ = simulate(ratio=1.0, cap=5, true_ns=true_ns)
        assert low <= slowdown <= high, (true_ns, slowdown)
