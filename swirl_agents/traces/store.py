"""Trace stores: where trajectory records are kept.

``TraceStore`` is the interface callers use (the agent, the generator, the CLI, the trainer).
Two stores implement it, picked by ``open_store`` from the path or URL:

- ``SQLiteTraceStore``, the embedded default (a file path or ``sqlite:///PATH``);
- ``PostgresTraceStore`` (``postgresql://...``), for many app replicas writing one store.

Both keep one table with the same columns and run the same queries (``_SQLTraceStore``); each
owns only its connections, transactions and the few lines where the dialects differ (the
insertion-order column, the import-batch filter, the DDL).

Both are safe with several writer processes and threads, and ``add`` is idempotent on the
record id (``INSERT ... ON CONFLICT (id) DO NOTHING``), so a resumed job never writes a
duplicate. SQLite: WAL journal, a busy timeout, one connection per thread (and per process
after a fork), every write in one ``BEGIN IMMEDIATE`` transaction. Postgres: one connection per
process (after a fork the child opens its own), each write one transaction, deadlocks and a
dropped connection retried.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from swirl_agents.errors import SwirlError, UsageError
from swirl_agents.traces.schema import SchemaError, Trajectory

T = TypeVar("T")

# The columns both stores fill from a record (``_row``), in this order.
_COLUMNS = (
    "id",
    "source",
    "dataset",
    "split",
    "outcome",
    "question_id",
    "sample",
    "correct",
    "n_steps",
    "n_valid",
    "created_at",
    "record",
)

_INDEXES = """
CREATE INDEX IF NOT EXISTS ix_traj_source ON trajectories (source);
CREATE INDEX IF NOT EXISTS ix_traj_dataset_split ON trajectories (dataset, split);
CREATE INDEX IF NOT EXISTS ix_traj_outcome ON trajectories (outcome);
CREATE INDEX IF NOT EXISTS ix_traj_question ON trajectories (question_id, sample);
CREATE INDEX IF NOT EXISTS ix_traj_created ON trajectories (created_at);
"""

_SQLITE_DDL = (
    """
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
"""
    + _INDEXES
)

# The same table; ``seq`` keeps insertion order (SQLite's rowid does that there), and
# ``import_batch`` is a column (SQLite reads it from the record with json_extract). The record
# stays TEXT, not JSONB: JSONB refuses \u0000 in strings, which a model's output may hold.
_POSTGRES_DDL = (
    """
CREATE TABLE IF NOT EXISTS trajectories (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id           TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    dataset      TEXT,
    split        TEXT,
    outcome      TEXT NOT NULL,
    question_id  TEXT,
    sample       INTEGER NOT NULL DEFAULT 0,
    correct      INTEGER,
    n_steps      INTEGER NOT NULL,
    n_valid      INTEGER NOT NULL,
    created_at   DOUBLE PRECISION NOT NULL,
    record       TEXT NOT NULL,
    import_batch TEXT
);
CREATE INDEX IF NOT EXISTS ix_traj_import_batch ON trajectories (import_batch);
"""
    + _INDEXES
)

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

_PAGE = 1000  # rows per query when iterating (memory stays bounded on a big store)
_CHUNK = 500  # ids per IN (...) list


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


class _SQLTraceStore:
    """The queries both stores run. SQL is written with ``?`` marks; a subclass runs it:
    ``_read`` (rows of one query) and ``_write`` (one statement over many rows, in one
    transaction, returning the rows changed)."""

    _columns = _COLUMNS  # what ``_row`` fills, in order
    _order = "rowid"  # the column that keeps insertion order
    _batch_clause = "json_extract(record, '$.metadata.import_batch') = ?"

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- writes ------------------------------------------------------------------------------
    def add(self, trajectory: Trajectory) -> bool:
        return self.add_many([trajectory]) == 1

    def add_many(self, trajectories: Iterable[Trajectory]) -> int:
        rows = [self._row(t) for t in trajectories]
        if not rows:
            return 0
        return self._write(
            f"INSERT INTO trajectories ({', '.join(self._columns)}) "
            f"VALUES ({', '.join('?' * len(self._columns))}) ON CONFLICT (id) DO NOTHING",
            rows,
        )

    def delete(self, ids: Iterable[str]) -> int:
        """Remove the records with these ids (e.g. failed runs before a retry); returns how many."""
        rows = [(i,) for i in ids]
        return self._write("DELETE FROM trajectories WHERE id = ?", rows) if rows else 0

    def _row(self, t: Trajectory) -> tuple[Any, ...]:
        return _row(t)

    # --- reads -------------------------------------------------------------------------------
    def get(self, id: str) -> Trajectory | None:
        rows = self._read("SELECT record FROM trajectories WHERE id = ?", (id,))
        return _load(id, rows[0][0]) if rows else None

    def has(self, id: str) -> bool:
        return bool(self._read("SELECT 1 FROM trajectories WHERE id = ?", (id,)))

    def existing(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        found: set[str] = set()
        for i in range(0, len(ids), _CHUNK):  # stay under SQLite's bound-parameter limit
            chunk = ids[i : i + _CHUNK]
            sql = f"SELECT id FROM trajectories WHERE id IN ({', '.join('?' * len(chunk))})"
            found.update(r[0] for r in self._read(sql, chunk))
        return found

    def _pages(self, columns: str, limit: int | None, filters: dict[str, Any]):
        """Matching rows in insertion order, a page per query (keyset on the order column), so
        memory stays bounded and no read transaction stays open between pages."""
        where, params = _where(filters, self._batch_clause)
        last, left = None, limit
        while left is None or left > 0:
            size = _PAGE if left is None else min(_PAGE, left)
            clause, args = where, params
            if last is not None:
                clause = f"{where} AND " if where else " WHERE "
                clause, args = f"{clause}{self._order} > ?", [*params, last]
            rows = self._read(
                f"SELECT {self._order}, {columns} FROM trajectories{clause} "
                f"ORDER BY {self._order} LIMIT {size}",
                args,
            )
            yield from (row[1:] for row in rows)
            if len(rows) < size:
                return
            last = rows[-1][0]
            left = None if left is None else left - len(rows)

    def iter(self, *, limit: int | None = None, **filters: Any) -> Iterator[Trajectory]:
        for id_, record in self._pages("id, record", limit, filters):
            yield _load(id_, record)

    def ids(self, *, limit: int | None = None, **filters: Any) -> list[str]:
        return [r[0] for r in self._pages("id", limit, filters)]

    def count(self, **filters: Any) -> int:
        where, params = _where(filters, self._batch_clause)
        return self._read(f"SELECT COUNT(*) FROM trajectories{where}", params)[0][0]

    def stats(self, **filters: Any) -> dict[str, Any]:
        """Counts by source / outcome / dataset, mean steps per run, valid-action rate per model
        call, and accuracy over the graded records."""
        where, params = _where(filters, self._batch_clause)

        def by(column: str) -> dict[str, int]:
            sql = f"SELECT {column}, COUNT(*) FROM trajectories{where} GROUP BY {column} ORDER BY 2 DESC, 1"
            return {str(k): n for k, n in self._read(sql, params)}

        total, steps, valid, graded, correct = self._read(
            "SELECT COUNT(*), SUM(n_steps), SUM(n_valid), COUNT(correct), SUM(correct) "
            f"FROM trajectories{where}",
            params,
        )[0]
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


# --- SQLite ------------------------------------------------------------------------------------


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


class SQLiteTraceStore(_SQLTraceStore):
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
            conn.executescript(_SQLITE_DDL)
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

    def __repr__(self) -> str:
        return f"SQLiteTraceStore({str(self.path)!r})"

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn().execute(sql, list(params)).fetchall()

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")  # take the write lock up front: no deadlock on upgrade
        try:
            changed = conn.executemany(sql, rows).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return changed


# --- PostgreSQL --------------------------------------------------------------------------------

_SCHEMES = ("postgresql://", "postgres://")
_SETUP_LOCK = 0x5714_7A11  # the advisory lock that serializes creating the table


def redact_url(url: str) -> str:
    """The URL with its password (in the user part or a ``password=`` parameter) shown as
    ``***``: what messages and reprs print."""
    import re
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.password is None and "password=" not in parts.query:
            return url
        if parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
        query = re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query)
        return urlunsplit(parts._replace(query=query))
    except ValueError:
        return url.split("://", 1)[0] + "://***"


class PostgresTraceStore(_SQLTraceStore):
    """A trace store in a PostgreSQL database, for many app replicas (and processes, and threads)
    writing one store. Needs ``psycopg`` (``pip install 'swirl-agents[postgres]'``).

    One connection per process, shared by its threads under a lock (a store costs the server one
    connection per replica process, not one per thread); a forked child opens its own. Each write
    is one transaction; a deadlock between two batches, or a dropped connection, is retried (writes
    are idempotent, so a retried batch never duplicates). The table (``trajectories``) lives in
    the connection's schema: pick another with ``?options=-csearch_path%3DNAME`` in the URL.
    Passwords are best kept out of the URL (``$PGPASSWORD`` or ``~/.pgpass``, which libpq reads).
    """

    _columns = (*_COLUMNS, "import_batch")
    _order = "seq"
    _batch_clause = "import_batch = ?"

    def __init__(
        self, url: str, *, must_exist: bool = False, connect_timeout_s: float = 10.0
    ) -> None:
        """Connect, and create the table unless ``must_exist``.

        Args:
            url: ``postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE[?PARAMS]`` (libpq's URL;
                ``$PGHOST``, ``$PGUSER``, ``$PGPASSWORD`` ... fill what it leaves out).
            must_exist: refuse (UsageError) a database without a trace store instead of creating
                the table: what commands that only read use. The database itself is never created.
            connect_timeout_s: how long to wait for the server when connecting.

        Raises:
            UsageError: psycopg is not installed, a malformed URL, a database that does not exist,
                or (``must_exist``) a database with no trace store.
            SwirlError: the server cannot be reached or refuses the connection.
        """
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise UsageError(
                "a postgresql:// trace store needs psycopg: pip install 'swirl-agents[postgres]'"
            ) from None
        self.url = url
        self.label = redact_url(url)
        self.must_exist = must_exist
        self.connect_timeout_s = connect_timeout_s
        self._conn_pid: int | None = os.getpid()
        self._connection: Any = None
        self._connected_once = False
        self._lock = threading.RLock()
        self._setup()

    def __repr__(self) -> str:
        return f"PostgresTraceStore({self.label!r})"

    # --- connections -------------------------------------------------------------------------
    def _connect(self) -> Any:
        """A new connection. A malformed URL or a missing database is a UsageError; a server
        that cannot be reached raises psycopg's OperationalError (``_run`` words it)."""
        import psycopg

        try:
            conn = psycopg.connect(
                self.url,
                autocommit=True,  # a read is its own statement; writes open a transaction
                connect_timeout=max(1, round(self.connect_timeout_s)),
                application_name="swirl-agents",
            )
        except psycopg.ProgrammingError as exc:  # a malformed URL or an unknown option
            raise UsageError(f"trace store {self.label}: {_first_line(exc)}") from None
        except psycopg.OperationalError as exc:
            reason = _first_line(exc).split("FATAL:", 1)[-1].strip()
            if "database" in reason and "does not exist" in reason:
                raise UsageError(
                    f"no trace store at {self.label}: {reason} (create the database, e.g. "
                    "`createdb NAME`, or check --store or $SWIRL_STORE)"
                ) from None
            raise
        self._connected_once = True
        return conn

    def _conn(self) -> Any:
        """This process's connection, opened again when the old one broke."""
        conn = self._connection
        if conn is None or conn.closed or conn.broken:
            self._connection = None
            conn = self._connection = self._connect()
        return conn

    def _run(self, fn: Callable[[Any], T]) -> T:
        """``fn(connection)`` under this process's lock. A deadlock or a serialization failure
        is retried, and so is a connection that dropped after it had worked (reconnecting); the
        first connection fails at once, in one line."""
        import psycopg
        from tenacity import retry, retry_if_exception, stop_after_attempt, wait_random_exponential

        def transient(exc: BaseException) -> bool:
            if isinstance(
                exc, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure
            ):
                return True
            conn = self._connection
            lost = conn is None or conn.closed or conn.broken
            return isinstance(exc, psycopg.OperationalError) and lost and self._connected_once

        @retry(
            retry=retry_if_exception(transient),
            wait=wait_random_exponential(multiplier=0.1, max=3.0),
            stop=stop_after_attempt(8),
            reraise=True,
        )
        def attempt() -> T:
            if self._conn_pid != os.getpid():
                # A forked child opens its own connection and never touches (or closes) its
                # parent's, nor a lock another thread of the parent may have held at the fork.
                self._lock = threading.RLock()
                self._connection, self._conn_pid = None, os.getpid()
            with self._lock:
                return fn(self._conn())

        try:
            return attempt()
        except psycopg.OperationalError as exc:
            conn = self._connection
            if conn is None or conn.closed or conn.broken:
                raise SwirlError(
                    f"cannot reach the trace store {self.label}: {_first_line(exc)}"
                ) from None
            raise SwirlError(f"trace store {self.label}: {_first_line(exc)}") from None

    def _setup(self) -> None:
        def setup(conn: Any) -> None:
            (table,) = conn.execute("SELECT to_regclass('trajectories')").fetchone()
            if table is not None:
                return
            if self.must_exist:
                raise UsageError(
                    f"no trace store at {self.label} (no trajectories table; check --store or "
                    "$SWIRL_STORE; commands that only read a store never create one)"
                )
            with conn.transaction():  # replicas starting at once: one creates, the rest wait
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
                conn.execute(_POSTGRES_DDL)

        self._run(setup)

    def close(self) -> None:
        """Close this process's connection (a forked child's copy of the parent's is left alone)."""
        if self._conn_pid != os.getpid():
            self._connection = None
            return
        with self._lock:
            if self._connection is not None:
                self._connection.close()
            self._connection = None

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        sql, params = sql.replace("?", "%s"), list(params)
        return self._run(lambda conn: conn.execute(sql, params).fetchall())

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        sql = sql.replace("?", "%s")

        def write(conn: Any) -> int:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(sql, rows)
                return cur.rowcount

        return self._run(write)

    def _row(self, t: Trajectory) -> tuple[Any, ...]:
        batch = t.metadata.get("import_batch") if isinstance(t.metadata, dict) else None
        return (*_row(t), None if batch is None else str(batch))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


# --- shared helpers ----------------------------------------------------------------------------


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


def _where(filters: dict[str, Any], batch_clause: str) -> tuple[str, list[Any]]:
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
            clauses.append(batch_clause)
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
    """Open a trace store: a SQLite file path (or ``sqlite:///PATH``), or a PostgreSQL URL
    (``postgresql://USER@HOST:PORT/DATABASE``, needs the ``postgres`` extra).

    Args:
        path: the store.
        must_exist: for callers that only read (stats, show, export, filter, train): a path
            with no store raises UsageError (a CLI turns it into one line and exit 2) and
            nothing is created. Writers (generate, eval, import) leave it False: the store is
            created on first use (a Postgres database must exist; its table is created).
    """
    text = os.fspath(path)
    if text.startswith(_SCHEMES):
        return PostgresTraceStore(text, must_exist=must_exist)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        raise UsageError(
            f"unsupported trace store {redact_url(text)!r}: a SQLite file path (or sqlite:///PATH) "
            "or a postgresql:// URL"
        )
    if text.endswith(".jsonl"):
        raise UsageError(
            f"{text} is a JSONL file, not a store: use `swirl traces import` to load it"
        )
    return SQLiteTraceStore(text, must_exist=must_exist)
