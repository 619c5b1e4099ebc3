"""scope_shim without its extension (installed where it could not build: not
Linux, no <sys/sdt.h>): the same API, doing nothing, so an application that
emits scope's events installs and runs anywhere."""
from __future__ import annotations


def mark(name, **fields) -> None:
    """Does nothing here: scope's probes need Linux."""


def state(name, value) -> None:
    """Does nothing here: scope's probes need Linux."""


def send(channel, message_id) -> None:
    """Does nothing here: scope's probes need Linux."""


def recv(channel, message_id) -> None:
    """Does nothing here: scope's probes need Linux."""


def _set_encoder(encoder) -> None:
    pass


def _span_on() -> bool:
    return False


def _span_begin(name, fields, parent, task) -> int:
    return 0


def _span_end(span_id, flags) -> None:
    pass
