"""SQLite trace store: idempotent writes, queries, stats, concurrent writer processes and threads."""

import multiprocessing as mp
from concurrent.futures import ThreadPoolExecutor

import pytest

from swirl_agents.errors import UsageError
from swirl_agents.traces import SQLiteTraceStore, Step, TraceStore, Trajectory, open_store


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
def store(tmp_path):
    with SQLiteTraceStore(tmp_path / "traces.db") as s:
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
    with pytest.raises(UsageError, match="only SQLite"):
        open_store("postgresql://host/db")
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
    store = open_store(path)
    for i in range(0, n, 5):  # mix single adds, batches and duplicates
        store.add(traj(worker * 10_000 + i))
        store.add_many([traj(worker * 10_000 + j) for j in range(i, i + 5)])
    store.close()


def test_concurrent_writer_processes(tmp_path):
    path = str(tmp_path / "shared.db")
    ctx = mp.get_context("fork")  # separate processes (fork: no re-import, keeps the test fast)
    procs = [ctx.Process(target=_writer, args=(path, w, 200)) for w in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with SQLiteTraceStore(path) as store:
        assert store.count() == 1200
        assert len(set(store.ids())) == 1200


def test_forked_child_opens_its_own_connection(tmp_path):
    store = SQLiteTraceStore(tmp_path / "f.db")
    store.add(traj(0))  # the parent's thread has a connection now
    ctx = mp.get_context("fork")
    p = ctx.Process(target=lambda: store.add(traj(1)))
    p.start()
    p.join(30)
    assert p.exitcode == 0
    assert store.count() == 2
    store.close()
