"""Open a recording folder for reading; validate first, fail with a clear message."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import RecordingError
from . import schema

_FIX = "give a folder written by `scope attach` or `scope run` (see ./scope-recordings/)"


@dataclass
class Recording:
    folder: Path
    meta: dict

    @property
    def start_ns(self) -> int:
        return int(self.meta["started_ns"])

    @property
    def anchor(self) -> tuple[int, int]:
        clock = self.meta["clock"]
        return int(clock["monotonic_ns"]), int(clock["realtime_ns"])

    def _read(self, path: Path, table_schema: pa.Schema) -> pa.Table:
        try:
            return pq.read_table(path, schema=table_schema)
        except FileNotFoundError:
            raise RecordingError(f"{path} is missing from the recording", _FIX) from None
        except (OSError, pa.ArrowException) as exc:
            raise RecordingError(f"{path} is damaged ({str(exc).splitlines()[0]})",
                                 "the rest of the recording is intact; query another table") from None

    def events(self) -> pa.Table:
        parts = [self._read(self.folder / seg, schema.EVENTS) for seg in self.meta.get("segments", [])]
        return pa.concat_tables(parts) if parts else schema.EVENTS.empty_table()

    def calls(self) -> pa.Table:
        segments = self.meta.get("calls_segments") or []
        if not segments and (self.folder / "calls.parquet").exists():   # one file (scope 0.1)
            return self._read(self.folder / "calls.parquet", schema.CALLS)
        parts = [self._read(self.folder / seg, schema.CALLS) for seg in segments]
        return pa.concat_tables(parts) if parts else schema.CALLS.empty_table()

    def threads(self) -> pa.Table:
        return self._read(self.folder / "threads.parquet", schema.THREADS)

    def code(self) -> pa.Table:
        return self._read(self.folder / "code.parquet", schema.CODE)

    def offcpu(self) -> pa.Table:
        return self._optional("offcpu.parquet", schema.OFFCPU, "off-CPU intervals", "--offcpu")

    def syscalls(self) -> pa.Table:
        return self._optional("syscalls.parquet", schema.SYSCALLS, "system calls", "--syscalls [LIST]")

    def _optional(self, name: str, sch: pa.Schema, what: str, option: str) -> pa.Table:
        """A table recorded only with an option: a clear error naming it when absent."""
        path = self.folder / name
        if not path.exists():
            raise RecordingError(f"{self.folder} has no {what}",
                                 f"record with {option} (scope attach/run {option})")
        return self._read(path, sch)

    def messages(self) -> pa.Table:
        path = self.folder / "messages.parquet"
        return self._read(path, schema.MESSAGES) if path.exists() else schema.MESSAGES.empty_table()

    def threads(self) -> pa.Table:
        return self._read(self.folder / "threads.parquet", schema.THREADS)


def open_recording(path: Path | str) -> Recording:
    """Validate ``path`` as a finished recording and return it."""
    folder = Path(path)
    if not folder.exists():
        raise RecordingError(f"{folder} does not exist", _FIX)
    if not folder.is_dir():
        raise RecordingError(f"{folder} is a file, not a recording folder", _FIX)
    meta_path = folder / "session.json"
    if not meta_path.exists():
        raise RecordingError(f"{folder} is not a scope recording (no session.json; "
                             "unfinished or not a recording)", _FIX)
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise RecordingError(f"{meta_path} is unreadable ({exc})", _FIX) from None
    if not isinstance(meta, dict) or meta.get("format") != schema.FORMAT:
        raise RecordingError(f"{folder} is not a scope recording", _FIX)
    if int(meta.get("schema_version", 0)) > schema.SCHEMA_VERSION:
        raise RecordingError(f"{folder} was written by a newer scope (schema "
                             f"{meta['schema_version']}, this scope reads {schema.SCHEMA_VERSION})",
                             "upgrade scope to read it")
    return Recording(folder, meta)
