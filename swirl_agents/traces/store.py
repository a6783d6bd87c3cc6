"""Trace stores: where trajectory records are kept.

``TraceStore`` is the interface callers use (the agent, the generator, the CLI, the trainer);
``SQLiteTraceStore`` is the embedded default. A server database (Postgres) fits behind the same
interface without touching callers: ``open_store`` picks the implementation from the path or URL.

The SQLite store is safe with several writer processes and threads: WAL journal, a busy timeout,
one connection per thread (and per process after a fork), and every write in one ``BEGIN
IMMEDIATE`` transaction. ``add`` is idempotent on the record id (``INSERT OR IGNORE``), so a
resumed job never writes a duplicate.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from swirl_agents.errors import UsageError
from swirl_agents.traces.schema import SchemaError, Trajectory

_COLUMNS = "id, source, dataset, split, outcome, question_id, sample, correct, n_steps, n_valid, created_at, record"

_DDL = """
CREATE TABLE IF NOT EXISTS trajectories (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    dataset     TEXT,
    split       TEXT,
    outcome     TEXT NOT NULL,
    question_id TEXT,
    sample      INTEGER NOT NULL DEFAULT 0,
    correct     INTEGER,            -- 1 / 0, NULL when not graded
    n_steps     INTEGER NOT NULL,   -- model calls
    n_valid     INTEGER NOT NULL,   -- model calls with a valid action
    created_at  REAL NOT NULL,
    record      TEXT NOT NULL       -- the full Trajectory.to_dict() as JSON
);
CREATE INDEX IF NOT EXISTS ix_traj_source ON trajectories (source);
CREATE INDEX IF NOT EXISTS ix_traj_dataset_split ON trajectories (dataset, split);
CREATE INDEX IF NOT EXISTS ix_traj_outcome ON trajectories (outcome);
CREATE INDEX IF NOT EXISTS ix_traj_question ON trajectories (question_id, sample);
CREATE INDEX IF NOT EXISTS ix_traj_created ON trajectories (created_at);
"""

# Filters every store understands; a value of None means "any". ``import_batch`` matches the
# ``metadata["import_batch"]`` that ``swirl traces import`` writes on each record it adds.
FILTERS = (
    "source",
    "dataset",
    "split",
    "outcome",
    "question_id",
    "correct",
    "since",
    "until",
    "import_batch",
)


@runtime_checkable
class TraceStore(Protocol):
    """What callers rely on. Filters: source, dataset, split, outcome, question_id, correct
    (bool), since / until (unix time of ``created_at``), import_batch (``metadata["import_batch"]``).
    """

    def add(self, trajectory: Trajectory) -> bool:
        """Store one record; False when a record with its id already exists."""
        ...

    def add_many(self, trajectories: Iterable[Trajectory]) -> int:
        """Store records in one transaction; returns how many were new."""
        ...

    def get(self, id: str) -> Trajectory | None: ...

    def has(self, id: str) -> bool: ...

    def existing(self, ids: Iterable[str]) -> set[str]:
        """The subset of ``ids`` already stored (resume checks in bulk)."""
        ...

    def delete(self, ids: Iterable[str]) -> int:
        """Remove records by id; returns how many were removed."""
        ...

    def iter(self, *, limit: int | None = None, **filters: Any) -> Iterator[Trajectory]:
        """Records in insertion order."""
        ...

    def ids(self, *, limit: int | None = None, **filters: Any) -> list[str]:
        """The ids of the matching records, in insertion order."""
        ...

    def count(self, **filters: Any) -> int: ...

    def stats(self, **filters: Any) -> dict[str, Any]: ...

    def close(self) -> None: ...


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _retry_locked(fn):
    """The busy timeout covers writes; schema set-up (journal mode switch) can still report
    "locked" when many processes open a new file at once, so it retries (tenacity loads here, not
    at import: reading commands stay quick to start)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from tenacity import retry, retry_if_exception, stop_after_attempt, wait_random_exponential

        return retry(
            retry=retry_if_exception(_is_locked),
            wait=wait_random_exponential(multiplier=0.01, max=1.0),
            stop=stop_after_attempt(30),
            reraise=True,
        )(fn)(*args, **kwargs)

    return wrapper


class SQLiteTraceStore:
    """The embedded trace store: one SQLite file, safe with concurrent writer processes and threads."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_s: float = 60.0,
        must_exist: bool = False,
    ) -> None:
        """Open (and create if needed) a store.

        Args:
            path: the database file; its parent directory is created.
            busy_timeout_s: how long a writer waits for another writer's lock before failing.
            must_exist: refuse (UsageError) a path where no store exists instead of creating
                one: what commands that only read use, so a mistyped path is not a new empty store.
        """
        self.path = Path(path)
        self.must_exist = must_exist
        if must_exist:
            _check_exists(self.path)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._setup()

    # --- connections -------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        """This thread's connection; a forked child opens its own (sqlite handles must not cross)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(
                # mode=rw never creates the file (it may have gone since the check)
                f"{self.path.resolve().as_uri()}?mode=rw" if self.must_exist else self.path,
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
                uri=self.must_exist,
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            conn.execute(
                "PRAGMA synchronous = NORMAL"
            )  # WAL + NORMAL: crash-safe, no fsync per commit
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                self._connections.append(conn)
        return conn

    @_retry_locked
    def _setup(self) -> None:
        try:
            conn = self._conn()
            if self.must_exist:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                if tables and "trajectories" not in tables:  # someone else's database
                    raise UsageError(f"{self.path}: not a trace store (no trajectories table)")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_DDL)
        except sqlite3.DatabaseError as exc:
            if _is_locked(exc):
                raise
            raise UsageError(f"{self.path}: not a trace store ({exc})") from None

    def close(self) -> None:
        """Close every connection this object opened (in this process)."""
        with self._lock:
            for conn in self._connections:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:  # opened by another thread that is gone
                    pass
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> SQLiteTraceStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteTraceStore({str(self.path)!r})"

    # --- writes ------------------------------------------------------------------------------
    def add(self, trajectory: Trajectory) -> bool:
        return self.add_many([trajectory]) == 1

    def add_many(self, trajectories: Iterable[Trajectory]) -> int:
        rows = [_row(t) for t in trajectories]
        if not rows:
            return 0
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")  # take the write lock up front: no deadlock on upgrade
        try:
            before = conn.total_changes
            conn.executemany(
                f"INSERT OR IGNORE INTO trajectories ({_COLUMNS}) VALUES ({', '.join('?' * 12)})",
                rows,
            )
            added = conn.total_changes - before
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return added

    def delete(self, ids: Iterable[str]) -> int:
        """Remove the records with these ids (e.g. failed runs before a retry); returns how many."""
        ids = list(ids)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = conn.total_changes
            conn.executemany("DELETE FROM trajectories WHERE id = ?", [(i,) for i in ids])
            removed = conn.total_changes - before
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return removed

    # --- reads -------------------------------------------------------------------------------
    def get(self, id: str) -> Trajectory | None:
        row = self._conn().execute("SELECT record FROM trajectories WHERE id = ?", (id,)).fetchone()
        return _load(id, row[0]) if row else None

    def has(self, id: str) -> bool:
        return (
            self._conn().execute("SELECT 1 FROM trajectories WHERE id = ?", (id,)).fetchone()
            is not None
        )

    def existing(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        found: set[str] = set()
        conn = self._conn()
        for i in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = ids[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            found.update(
                r[0]
                for r in conn.execute(f"SELECT id FROM trajectories WHERE id IN ({marks})", chunk)
            )
        return found

    def iter(self, *, limit: int | None = None, **filters: Any) -> Iterator[Trajectory]:
        where, params = _where(filters)
        sql = f"SELECT id, record FROM trajectories{where} ORDER BY rowid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for id_, record in self._conn().execute(sql, params):
            yield _load(id_, record)

    def ids(self, *, limit: int | None = None, **filters: Any) -> list[str]:
        where, params = _where(filters)
        sql = f"SELECT id FROM trajectories{where} ORDER BY rowid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [r[0] for r in self._conn().execute(sql, params)]

    def count(self, **filters: Any) -> int:
        where, params = _where(filters)
        return (
            self._conn().execute(f"SELECT COUNT(*) FROM trajectories{where}", params).fetchone()[0]
        )

    def stats(self, **filters: Any) -> dict[str, Any]:
        """Counts by source / outcome / dataset, mean steps per run, valid-action rate per model
        call, and accuracy over the graded records."""
        where, params = _where(filters)
        conn = self._conn()

        def by(column: str) -> dict[str, int]:
            sql = f"SELECT {column}, COUNT(*) FROM trajectories{where} GROUP BY {column} ORDER BY 2 DESC"
            return {str(k): n for k, n in conn.execute(sql, params)}

        total, steps, valid, graded, correct = conn.execute(
            "SELECT COUNT(*), SUM(n_steps), SUM(n_valid), COUNT(correct), SUM(correct) "
            f"FROM trajectories{where}",
            params,
        ).fetchone()
        return {
            "total": total,
            "by_source": by("source"),
            "by_outcome": by("outcome"),
            "by_dataset": by("dataset"),
            "mean_steps": steps / total if total else 0.0,
            "valid_action_rate": valid / steps if steps else 0.0,
            "graded": graded,
            "accuracy": correct / graded if graded else None,
        }


def _row(t: Trajectory) -> tuple[Any, ...]:
    if not isinstance(t, Trajectory):
        raise TypeError(f"a trace store keeps Trajectory records, got {type(t).__name__}")
    return (
        t.id,
        t.source,
        t.dataset,
        t.split,
        t.outcome,
        t.question_id,
        t.sample,
        None if t.correct is None else int(bool(t.correct)),
        len(t.steps),
        sum(s.kind != "invalid" for s in t.steps),
        t.created_at,
        t.to_json(),
    )


def _load(id_: str, record: str) -> Trajectory:
    try:
        return Trajectory.from_dict(json.loads(record))
    except (json.JSONDecodeError, SchemaError) as exc:
        raise SchemaError(f"record {id_!r}: {exc}") from None


def _where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise UsageError(f"unknown trace filter(s) {sorted(unknown)}; known: {', '.join(FILTERS)}")
    clauses, params = [], []
    for key, value in filters.items():
        if value is None:
            continue
        if key == "since":
            clauses.append("created_at >= ?")
        elif key == "import_batch":
            clauses.append("json_extract(record, '$.metadata.import_batch') = ?")
        elif key == "until":
            clauses.append("created_at < ?")
        else:
            clauses.append(f"{key} = ?")
            value = int(bool(value)) if key == "correct" else value
        params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _check_exists(path: Path) -> None:
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a trace store")
    if not path.exists():
        raise UsageError(
            f"no trace store at {path} (check --store or $SWIRL_STORE; "
            "commands that only read a store never create one)"
        )


def open_store(path: str | os.PathLike[str], *, must_exist: bool = False) -> TraceStore:
    """Open a trace store: a SQLite file path (or ``sqlite:///PATH``). Other URL schemes name
    server stores that are not built yet and fail with a clear error.

    Args:
        path: the store.
        must_exist: for callers that only read (stats, show, export, filter, train): a path
            with no store raises UsageError (a CLI turns it into one line and exit 2) and
            nothing is created. Writers (generate, eval, import) leave it False: the store is
            created on first use.
    """
    text = os.fspath(path)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        raise UsageError(f"unsupported trace store {text!r}: only SQLite files are built in")
    if text.endswith(".jsonl"):
        raise UsageError(
            f"{text} is a JSONL file, not a store: use `swirl traces import` to load it"
        )
    return SQLiteTraceStore(text, must_exist=must_exist)
