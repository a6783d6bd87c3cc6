"""Trajectory records and the stores that keep them."""

from __future__ import annotations

import os
from typing import Any

from swirl_agents.errors import UsageError
from swirl_agents.traces.jsonl import LineError, iter_jsonl, read_jsonl, write_jsonl
from swirl_agents.traces.record import trajectory_from_state
from swirl_agents.traces.schema import (
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
    SchemaError,
    Step,
    Trajectory,
    parse_record,
)
from swirl_agents.traces.store import (
    FILTERS,
    PostgresTraceStore,
    SQLiteTraceStore,
    TraceStore,
    open_store,
)

__all__ = [
    "FILTERS",
    "SCHEMA_VERSION",
    "REQUIRED_FIELDS",
    "LineError",
    "PostgresTraceStore",
    "SQLiteTraceStore",
    "SchemaError",
    "Step",
    "TraceStore",
    "Trajectory",
    "iter_jsonl",
    "load_trajectories",
    "open_store",
    "parse_record",
    "read_jsonl",
    "trajectory_from_state",
    "write_jsonl",
]


def load_trajectories(
    path_or_store: str | os.PathLike[str] | TraceStore,
    /,
    *,
    limit: int | None = None,
    errors: list[LineError] | None = None,
    **filters: Any,
) -> list[Trajectory]:
    """Records from a store, a store path or URL (``.db``, ``postgresql://...``), or a ``.jsonl``
    file, with the store filters.

    Args:
        path_or_store: a TraceStore, a SQLite store path, a postgresql:// URL, or a JSONL path.
        limit: at most this many records, in file/insertion order.
        errors: collects malformed JSONL lines (logged as warnings when None).
        filters: source, dataset, split, outcome, question_id, correct, since, until,
            import_batch.

    Raises:
        UsageError: a store path where no store exists (nothing is created).
    """
    if isinstance(path_or_store, TraceStore):
        return list(path_or_store.iter(limit=limit, **filters))
    path = os.fspath(path_or_store)
    if not path.endswith(".jsonl"):
        store = open_store(path, must_exist=True)  # reading never creates a store
        try:
            return list(store.iter(limit=limit, **filters))
        finally:
            store.close()
    matches = _matcher(filters)
    out: list[Trajectory] = []
    for traj in iter_jsonl(path, errors=errors):
        if matches(traj):
            out.append(traj)
            if limit is not None and len(out) >= limit:
                break
    return out


def _matcher(filters: dict[str, Any]):
    """The same filter semantics as the stores, for records read from a file."""
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise UsageError(f"unknown trace filter(s) {sorted(unknown)}; known: {', '.join(FILTERS)}")
    active = {k: v for k, v in filters.items() if v is not None}

    def matches(t: Trajectory) -> bool:
        for key, value in active.items():
            if key == "since":
                ok = t.created_at >= value
            elif key == "until":
                ok = t.created_at < value
            elif key == "correct":
                ok = t.correct is not None and bool(t.correct) == bool(value)
            elif key == "import_batch":
                ok = t.metadata.get("import_batch") == value
            else:
                ok = getattr(t, key) == value
            if not ok:
                return False
        return True

    return matches
