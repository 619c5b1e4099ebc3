"""Exports of a recording for other viewers, one module per format, each
declaring its `Exporter` (base.py); `EXPORTERS` (name -> Exporter, in the
order --help lists them; the first is the default) is the table `scope
export` builds its --format choices, help and file names from.

To add a format: a module here with a function from a Recording to text or
bytes and an ``EXPORTER``, and its entry below.
"""
from __future__ import annotations

from . import chrome, folded, perfetto, speedscope, svg
from .base import Exporter

EXPORTERS: dict[str, Exporter] = {e.name: e for e in (svg.EXPORTER, perfetto.EXPORTER, chrome.EXPORTER,
                                                      speedscope.EXPORTER, folded.EXPORTER)}
