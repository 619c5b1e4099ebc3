"""`scope tui` on a 10M-event recording: time to the first screen, and to render
after each key (zoom, pan, cursor, the moment, a filter), measured through
Textual's test pilot: the app runs headless on an event loop in a helper
thread, and each benchmark round is one key press and the pause that lets the
app process it and redraw.

The recording: the store bench's shape (4 threads, 2.5 M outer->inner call
pairs over 60 s, 100 functions), written through the real writer and correlator.
"""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from scope.tui.app import ScopeApp
from scope.tui.datasource import RecordingSource
from scope.tui.timeline import Timeline
from tests.unit.recording import START, write_calls_recording
from tests.unit.streams import pairs

EVENTS = 10_000_000
SIZE = (160, 48)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    code = {i: (f"f{i}", f"/app/m{i % 10}.py") for i in range(1, 101)}
    return write_calls_recording(tmp_path_factory.mktemp("tui") / "rec",
                                 pairs(EVENTS, threads=4, span_ns=60 * 10**9, start=START), code)


class Headless:
    """The app under the pilot, on its own event loop thread."""

    def __init__(self, folder) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.app = ScopeApp(RecordingSource.open(folder))
        ready = threading.Event()

        async def life():                 # the app's whole life in one task (its context)
            self.done = asyncio.Event()
            async with self.app.run_test(size=SIZE) as pilot:
                self.pilot = pilot
                await pilot.pause()
                ready.set()
                await self.done.wait()
        self.life = asyncio.run_coroutine_threadsafe(life(), self.loop)
        if not ready.wait(timeout=120):
            raise RuntimeError(f"the app did not start: {self.life.exception()}")

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    def press(self, *keys) -> None:
        async def go():
            await self.pilot.press(*keys)
            await self.pilot.pause()
        self.call(go())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.done.set)
        self.life.result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def ui(folder):
    h = Headless(folder)
    yield h
    h.close()


def test_first_screen(benchmark, folder):
    """Open the recording and draw the whole-recording view, the moment at its start."""
    def first():
        t0 = time.perf_counter()
        h = Headless(folder)
        took = time.perf_counter() - t0
        h.close()
        return took
    benchmark.pedantic(first, rounds=3, iterations=1)


@pytest.mark.parametrize("keys", [("z",), ("plus",), ("minus",), ("l",), ("right",), ("full_stop",)],
                         ids=["no-op (unbound key: the pilot's own cost)", "zoom-in", "zoom-out", "pan",
                              "cursor", "next-event"])
def test_key(benchmark, ui, keys):
    tl = ui.app.screen.query_one(Timeline)
    ui.call(_at(ui, tl, START + 30 * 10**9, 10**9))        # a 1-second view in the middle
    benchmark.pedantic(lambda: ui.press(*keys), rounds=20, iterations=1,
                       setup=lambda: ui.call(_at(ui, tl, START + 30 * 10**9, 10**9)))


def test_filter_events(benchmark, ui):
    """Type a function name into the events filter: the page reloads per key."""
    ui.press("3")
    tl = ui.app.screen.query_one(Timeline)
    ui.call(_at(ui, tl, START + 30 * 10**9, 10**9))

    def type_it():
        ui.press("slash", "f", "7")
        ui.press("backspace", "backspace")
    benchmark.pedantic(type_it, rounds=10, iterations=1)


async def _at(ui, tl, center: int, span: int):
    tl.set_view(center - span // 2, center + span // 2)
    tl.move_to(center)
    await ui.pilot.pause()
