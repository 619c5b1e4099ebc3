import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        for item in items:
            item.add_marker(pytest.mark.skip(reason="benchmarks attach real eBPF probes: run as root"))
