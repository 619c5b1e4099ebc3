"""scope_shim: application events for scope, and complete call capture while scope is attached.

    import scope_shim as scope
    scope.mark("cache-miss", key=k)
    with scope.span("handle", route=path):
        ...
    scope.state("config", cfg)             # JSON (else repr), secrets redacted, size-capped
    scope.send("jobs", job.id); scope.recv("jobs", job.id)

Each call costs one semaphore check while no collector is attached. Importing
the module starts a daemon thread ("scope-shim-switch") that turns on complete
call capture while a collector asks for it (see _switch.py).
"""
from __future__ import annotations

import contextvars
import functools
import inspect
import sys

try:
    from . import _shim
    ACTIVE = True
except ImportError:         # installed without its extension (not Linux, no <sys/sdt.h>): the API does nothing
    from . import _inert as _shim
    ACTIVE = False
from ._payload import DEFAULT_MAX_BYTES, DEFAULT_REDACT, Encoder

__all__ = ["mark", "span", "state", "send", "recv", "configure", "get_include"]
__version__ = "0.1.0"


def get_include() -> str:
    """The folder holding scope_shim.h, for native extensions that emit scope's
    events through the shim's capsule API (in a wheel: inside this package)."""
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    inside = os.path.join(here, "include")
    return inside if os.path.isdir(inside) else os.path.join(os.path.dirname(here), "include")

mark = _shim.mark
state = _shim.state
send = _shim.send
recv = _shim.recv

_current_span: contextvars.ContextVar[int] = contextvars.ContextVar("scope_shim_span", default=0)


def configure(*, max_bytes: int = DEFAULT_MAX_BYTES, redact=DEFAULT_REDACT) -> None:
    """Payload cap in bytes (larger payloads are truncated and flagged) and the
    key patterns (regular expressions, case-insensitive) whose values are redacted."""
    _shim._set_encoder(Encoder(max_bytes=max_bytes, redact=tuple(redact)))


def _task_id() -> int:
    """The running asyncio task, named as recorded calls name it: the id the shim
    gives its coroutine (tracing.c gen_id), so spans and calls of a task match."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return 0
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return 0
    if task is None:
        return 0
    return (id(task.get_coro()) >> 4) & 0xFFFFFFFF


class span:
    """A named interval: ``with span("name", **fields):``, ``async with``, or ``@span("name")``.

    Spans nest per thread and per asyncio task (the parent is tracked in a
    context variable, so it stays right across ``await``).
    """

    __slots__ = ("name", "fields", "_id", "_token")

    def __init__(self, name: str, **fields):
        if not isinstance(name, str):
            raise TypeError(f"span name must be a str, not {type(name).__name__}")
        self.name = name
        self.fields = fields
        self._id = 0
        self._token = None

    def __enter__(self):
        if _shim._span_on():
            self._id = _shim._span_begin(self.name, self.fields or None, _current_span.get(), _task_id())
            if self._id:
                self._token = _current_span.set(self._id)
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._id:
            _shim._span_end(self._id, 4 if exc_type is not None else 0)
            try:
                _current_span.reset(self._token)
            except ValueError:   # exited in another context than entered
                pass
            self._id, self._token = 0, None
        return False

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb):
        return self.__exit__(exc_type, exc, tb)

    def __call__(self, func):
        name, fields = self.name, self.fields
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args, **kwargs):
                with span(name, **fields):
                    return await func(*args, **kwargs)
            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with span(name, **fields):
                return func(*args, **kwargs)
        return wrapper


configure()
if ACTIVE:
    from ._switch import SWITCH
    # check once now, on the importing thread: under `scope run` the collector is
    # already attached, so capture starts before the program's first call
    try:
        SWITCH.poll()
    except Exception:
        pass
    SWITCH.start()
