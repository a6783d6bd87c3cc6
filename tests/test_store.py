"""Trace stores (SQLite, and Postgres where $SWIRL_TEST_POSTGRES names a server): idempotent
writes, queries, stats, concurrent writer processes and threads."""

import multiprocessing as mp
from concurrent.futures import ThreadPoolExecutor

import pytest

from swirl_agents.errors import SwirlError, UsageError
from swirl_agents.traces import SQLiteTraceStore, Step, TraceStore, Trajectory, open_store
from swirl_agents.traces.store import PostgresTraceStore, redact_url


def traj(i: int, **kw) -> Trajectory:
    steps = [
        Step(0, "<math_exp>1+1</math_exp>", "math", "1+1", "1+1 -> 2"),
        Step(1, "oops", "invalid"),
    ]
    if kw.pop("answered", True):
        steps.append(Step(2, "<answer>2</answer>", "answer", "2"))
    fields = dict(question=f"q{i}", steps=steps, answer="2", outcome="answered", id=f"t{i}")
    fields.update(kw)
    return Trajectory(**fields)


@pytest.fixture
def store(store_url):
    """A fresh store of each kind (the Postgres one is skipped without a server)."""
    with open_store(store_url) as s:
        yield s


def test_add_is_idempotent_and_round_trips(store):
    t = traj(1, metadata={"a": 1})
    assert store.add(t) is True
    assert store.add(t) is False
    assert store.add_many([traj(1), traj(2), traj(2)]) == 1
    assert store.count() == 2
    assert store.get("t1") == t
    assert store.get("missing") is None
    assert store.has("t2") and not store.has("t3")
    assert store.existing(["t1", "t3", "t2"]) == {"t1", "t2"}
    assert isinstance(store, TraceStore)


def test_filters_and_order(store):
    store.add_many(
        [
            traj(0, source="generated", dataset="gsm8k", split="train", created_at=10.0),
            traj(1, source="annotation", dataset="gsm8k", split="train", created_at=20.0),
            traj(2, source="generated", dataset="hotpotqa", outcome="no_answer", created_at=30.0),
        ]
    )
    assert [t.id for t in store.iter()] == ["t0", "t1", "t2"]
    assert [t.id for t in store.iter(source="generated")] == ["t0", "t2"]
    assert [t.id for t in store.iter(dataset="gsm8k", split="train", limit=1)] == ["t0"]
    assert store.count(outcome="no_answer") == 1
    assert store.count(since=15.0, until=30.0) == 1
    with pytest.raises(UsageError, match="unknown trace filter"):
        store.count(colour="red")


def test_stats(store):
    store.add_many(
        [
            traj(0, correct=True),
            traj(1, correct=False),
            traj(2, answered=False, outcome="no_answer"),
        ]
    )
    stats = store.stats()
    assert stats["total"] == 3
    assert stats["by_source"] == {"production": 3}
    assert stats["by_outcome"] == {"answered": 2, "no_answer": 1}
    assert stats["mean_steps"] == pytest.approx(8 / 3)
    assert stats["valid_action_rate"] == pytest.approx(5 / 8)
    assert stats["graded"] == 2 and stats["accuracy"] == 0.5
    assert store.stats(outcome="failed")["total"] == 0


def test_delete(store):
    store.add_many([traj(0, outcome="failed"), traj(1)])
    assert store.delete(["t0", "nope"]) == 1
    assert store.ids() == ["t1"]


def test_open_store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    assert isinstance(s, SQLiteTraceStore)
    s.close()
    with pytest.raises(UsageError, match="unsupported trace store 'mysql://u:\\*\\*\\*@h/db'"):
        open_store("mysql://u:secret@h/db")
    with pytest.raises(UsageError, match="JSONL"):
        open_store(tmp_path / "x.jsonl")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UsageError, match="not a trace store"):
        open_store(junk)


def test_threads_share_one_store(store):
    def write(worker: int) -> int:
        return sum(store.add(traj(worker * 1000 + i)) for i in range(50))

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(write, range(8))) == 400
    assert store.count() == 400


def _writer(path: str, worker: int, n: int) -> None:
    store = open_store(path)  # 8 processes opening a new store at once: one creates it
    for i in range(0, n, 5):  # mix single adds, batches and duplicates
        store.add(traj(worker * 10_000 + i))
        store.add_many([traj(worker * 10_000 + j) for j in range(i, i + 5)])
    store.close()


def test_concurrent_writer_processes(store_url):
    """8 writer processes x 1,000 records into one new store: exactly 8,000, none twice."""
    ctx = mp.get_context("fork")  # separate processes (fork: no re-import, keeps the test fast)
    procs = [ctx.Process(target=_writer, args=(store_url, w, 1000)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with open_store(store_url, must_exist=True) as store:
        ids = store.ids()
        assert store.count() == len(ids) == len(set(ids)) == 8000
        assert set(ids) == {f"t{w * 10_000 + i}" for w in range(8) for i in range(1000)}


def _overlapping(path: str, worker: int) -> None:
    store = open_store(path)
    shared = [traj(i) for i in range(40)]
    for _ in range(10):  # the same ids in opposite orders: deadlock-prone on a server store
        store.add_many(shared if worker % 2 else shared[::-1])
    store.close()


def test_writers_of_the_same_ids(store_url):
    open_store(store_url).close()
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_overlapping, args=(store_url, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with open_store(store_url) as store:
        assert sorted(store.ids()) == sorted(f"t{i}" for i in range(40))


def test_forked_child_opens_its_own_connection(store_url):
    store = open_store(store_url)
    store.add(traj(0))  # the parent has a connection now
    ctx = mp.get_context("fork")
    p = ctx.Process(target=lambda: (store.add(traj(1)), store.close()))
    p.start()
    p.join(30)
    assert p.exitcode == 0
    assert store.count() == 2  # and the child left the parent's connection working
    store.add(traj(2))
    assert store.ids() == ["t0", "t1", "t2"]
    store.close()


def test_iter_pages_through_a_big_store(store):
    store.add_many(traj(i, created_at=float(i)) for i in range(2345))
    assert [t.id for t in store.iter(since=1000.0)] == [f"t{i}" for i in range(1000, 2345)]
    assert store.ids(limit=1500)[-1] == "t1499" and len(store.ids(limit=1500)) == 1500
    assert len(list(store.iter(limit=1000))) == 1000
    assert store.ids(limit=3, source="production") == ["t0", "t1", "t2"]


# --- Postgres only ----------------------------------------------------------------------------


def test_postgres_must_exist_and_errors(postgres_url):
    with pytest.raises(UsageError, match="no trace store at .*no trajectories table"):
        open_store(postgres_url, must_exist=True)  # an empty database: nothing is created
    with pytest.raises(UsageError, match="no trace store"):
        open_store(postgres_url, must_exist=True)
    missing = postgres_url.rsplit("/", 1)[0] + "/swirl_no_such_db"
    with pytest.raises(UsageError, match='database "swirl_no_such_db" does not exist'):
        open_store(missing)
    with open_store(postgres_url) as s:  # a writer creates the table
        assert isinstance(s, PostgresTraceStore) and s.count() == 0
        s.add(traj(0, metadata={"import_batch": "b"}))
    with open_store(f"postgres://{postgres_url.split('://', 1)[1]}", must_exist=True) as s:
        assert s.ids(import_batch="b") == ["t0"]


def test_postgres_unreachable_and_redacted():
    pytest.importorskip("psycopg")
    with pytest.raises(SwirlError, match=r"cannot reach the trace store postgresql://u:\*\*\*@"):
        open_store("postgresql://u:secret@127.0.0.1:1/db")  # nothing listens on port 1
    assert redact_url("postgresql://u:pw@h:5/db?password=x") == (
        "postgresql://u:***@h:5/db?password=***"
    )
    assert redact_url("postgresql:///db") == "postgresql:///db"


def test_postgres_needs_psycopg(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(UsageError, match=r"pip install 'swirl-agents\[postgres\]'"):
        open_store("postgresql://127.0.0.1:1/db")


def test_cli_on_a_postgres_store(postgres_url, tmp_path, monkeypatch):
    """$SWIRL_STORE=postgresql://...: import, stats, export and delete --batch; a reader refuses
    a database without a store (exit 2) and creates nothing."""
    import json

    from typer.testing import CliRunner

    from swirl_agents.cli import app
    from swirl_agents.traces import write_jsonl

    monkeypatch.setenv("SWIRL_STORE", postgres_url)
    runner = CliRunner()
    refused = runner.invoke(app, ["traces", "stats", "--json"])
    assert refused.exit_code == 2 and "no trace store" in refused.output
    write_jsonl(tmp_path / "in.jsonl", [traj(i, correct=i % 2 == 0) for i in range(5)])
    imported = runner.invoke(app, ["traces", "import", str(tmp_path / "in.jsonl"), "--json"])
    assert imported.exit_code == 0, imported.output
    batch = json.loads(imported.stdout)["batch"]
    stats = json.loads(runner.invoke(app, ["traces", "stats", "--batch", batch, "--json"]).stdout)
    assert (stats["total"], stats["accuracy"], stats["store"]) == (5, 0.6, postgres_url)
    out = tmp_path / "out.jsonl"
    assert runner.invoke(app, ["traces", "export", str(out)]).exit_code == 0
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [
        f"t{i}" for i in range(5)
    ]
    deleted = runner.invoke(app, ["traces", "delete", "--batch", batch, "--yes", "--json"])
    assert json.loads(deleted.stdout)["deleted"] == 5
    with open_store(postgres_url, must_exist=True) as s:
        assert s.count() == 0
