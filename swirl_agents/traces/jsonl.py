"""JSONL import and export of trajectory records: one ``Trajectory.to_dict()`` per line.

Reading is forgiving line by line and strict per record: a line that is not UTF-8 text, not JSON,
or not a trajectory record (``schema.parse_record``: the required fields, their types, at least one
step unless the run failed) is reported with ``file:line`` and the reason, and every other line
imports. A line is taken whole or not at all.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swirl_agents.errors import UsageError
from swirl_agents.traces.schema import SchemaError, Trajectory, parse_record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineError:
    """One line that did not import."""

    path: str  # the file
    line: int  # 1-based line number
    reason: str  # why it was rejected

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def iter_jsonl(
    path: str | os.PathLike[str], *, errors: list[LineError] | None = None
) -> Iterator[Trajectory]:
    """The records of a JSONL file (an iterator), skipping blank lines.

    Args:
        path: the file to read.
        errors: where malformed lines are collected; when None each is logged as a warning.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    with path.open("rb") as fh:
        if fh.read(16) == b"SQLite format 3\x00":
            raise UsageError(f"{path} is a SQLite trace store, not a JSONL file")
    return _records(path, errors)  # the checks above run on the call, not on the first next()


def iter_json_lines(
    path: str | os.PathLike[str], *, errors: list[LineError] | None = None
) -> Iterator[tuple[int, Any]]:
    """``(line number, JSON value)`` of every line of a JSONL file, skipping blank lines; a line
    that is not UTF-8 text or not JSON is reported (as in ``iter_jsonl``) and skipped. The other
    import formats (``swirl_agents.traces.formats``) read their lines through this."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    with path.open("rb") as fh:
        if fh.read(16) == b"SQLite format 3\x00":
            raise UsageError(f"{path} is a SQLite trace store, not a JSONL file")
    return _json_lines(path, errors)


def _json_lines(path: Path, errors: list[LineError] | None) -> Iterator[tuple[int, Any]]:
    with path.open("rb") as fh:  # bytes: one undecodable line must not stop the others
        for number, raw in enumerate(fh, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
                raw = raw[3:]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                reason = f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1})"
                _report(LineError(str(path), number, reason), errors)
                continue
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                # exc.msg of some errors ends with " at" ("Invalid control character at")
                message = exc.msg.removesuffix(" at")
                _report(
                    LineError(str(path), number, f"not JSON ({message} at column {exc.colno})"),
                    errors,
                )
                continue
            except RecursionError:
                _report(LineError(str(path), number, "not JSON (nested too deeply)"), errors)
                continue
            yield number, data


def _records(path: Path, errors: list[LineError] | None) -> Iterator[Trajectory]:
    for number, data in _json_lines(path, errors):
        try:
            traj = parse_record(data)
        except SchemaError as exc:
            _report(LineError(str(path), number, str(exc)), errors)
            continue
        yield traj


def read_jsonl(
    path: str | os.PathLike[str], *, errors: list[LineError] | None = None
) -> list[Trajectory]:
    """All valid records of a JSONL file (see ``iter_jsonl`` for ``errors``)."""
    return list(iter_jsonl(path, errors=errors))


def write_jsonl(
    path: str | os.PathLike[str],
    trajectories: Iterable[Trajectory],
    *,
    encode: Callable[[Trajectory], str] | None = None,
) -> int:
    """Write records to ``path`` (replaced atomically once complete); returns how many.

    ``encode`` turns a record into its line (default ``Trajectory.to_json``; the OpenAI chat
    format passes its own, ``swirl_agents.traces.formats.write_openai``)."""
    encode = encode or Trajectory.to_json
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    n = 0
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for traj in trajectories:
                fh.write(encode(traj) + "\n")
                n += 1
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def _report(error: LineError, errors: list[LineError] | None) -> None:
    if errors is None:
        log.warning("skipped %s", error)
    else:
        errors.append(error)
