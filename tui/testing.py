"""Drive `scope tui` headless with Textual's pilot (the tests' and benchmarks' way in)."""
from __future__ import annotations

import asyncio

from .app import ScopeApp


def drive(source, steps, size: tuple[int, int] = (120, 40)):
    """Run the app on `source` headless; `steps(pilot, screen)` is an async
    function given the pilot and the first screen. Returns the app."""
    app = ScopeApp(source)

    async def go():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await steps(pilot, app.screen)
    asyncio.run(go())
    return app
