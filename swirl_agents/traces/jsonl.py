"""JSONL import and export of trajectory records: one ``Trajectory.to_dict()`` per line.

Reading is forgiving line by line and strict per record: a line that is not JSON or does not
follow the schema is reported with ``file:line`` and the reason, and every other line imports.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from swirl_agents.traces.schema import SchemaError, Trajectory

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
    """Yield the records of a JSONL file, skipping blank lines.

    Args:
        path: the file to read.
        errors: where malformed lines are collected; when None each is logged as a warning.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield Trajectory.from_dict(json.loads(line))
            except json.JSONDecodeError as exc:
                _report(
                    LineError(str(path), number, f"not JSON ({exc.msg} at column {exc.colno})"),
                    errors,
                )
            except SchemaError as exc:
                _report(LineError(str(path), number, str(exc)), errors)


def read_jsonl(
    path: str | os.PathLike[str], *, errors: list[LineError] | None = None
) -> list[Trajectory]:
    """All valid records of a JSONL file (see ``iter_jsonl`` for ``errors``)."""
    return list(iter_jsonl(path, errors=errors))


def write_jsonl(path: str | os.PathLike[str], trajectories: Iterable[Trajectory]) -> int:
    """Write records to ``path`` (replaced atomically once complete); returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    n = 0
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for traj in trajectories:
                fh.write(traj.to_json() + "\n")
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
