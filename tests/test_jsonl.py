"""JSONL export/import: malformed lines are reported with file:line, the rest imports."""

import json

import pytest

from swirl_agents.traces import (
    LineError,
    SQLiteTraceStore,
    Step,
    Trajectory,
    load_trajectories,
    read_jsonl,
    write_jsonl,
)


def traj(i: int, **kw) -> Trajectory:
    return Trajectory(
        question=f"q{i}", steps=[Step(0, "<answer>1</answer>", "answer", "1")], id=f"t{i}", **kw
    )


def test_round_trip(tmp_path):
    trajs = [traj(i, metadata={"i": i}) for i in range(5)]
    assert write_jsonl(tmp_path / "out.jsonl", trajs) == 5
    assert read_jsonl(tmp_path / "out.jsonl") == trajs
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temp file left behind


def test_malformed_lines_are_reported_and_the_rest_imports(tmp_path, caplog):
    good = [json.dumps(traj(i).to_dict()) for i in range(3)]
    bad_schema = traj(9).to_dict() | {"outcome": "maybe"}
    lines = [good[0], "{not json", "", good[1], json.dumps(bad_schema), "[1, 2]", good[2]]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")

    errors: list[LineError] = []
    got = read_jsonl(path, errors=errors)
    assert [t.id for t in got] == ["t0", "t1", "t2"]
    assert [(e.line, e.reason.split(" ")[0]) for e in errors] == [
        (2, "not"),
        (5, "'outcome'"),
        (6, "a"),
    ]
    assert str(errors[0]).startswith(f"{path}:2: not JSON")

    with caplog.at_level("WARNING"):
        assert len(read_jsonl(path)) == 3  # without a list, each problem is logged
    assert f"{path}:5:" in caplog.text


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_load_trajectories_from_store_and_file(tmp_path):
    trajs = [
        traj(0, source="generated"),
        traj(1, source="annotation", correct=True),
        traj(2, correct=False),
    ]
    write_jsonl(tmp_path / "t.jsonl", trajs)
    with SQLiteTraceStore(tmp_path / "t.db") as store:
        store.add_many(trajs)
        for src in (tmp_path / "t.jsonl", str(tmp_path / "t.db"), store):
            assert [t.id for t in load_trajectories(src)] == ["t0", "t1", "t2"]
            assert [t.id for t in load_trajectories(src, source="annotation")] == ["t1"]
            assert [t.id for t in load_trajectories(src, correct=False)] == ["t2"]
            assert [t.id for t in load_trajectories(src, limit=2)] == ["t0", "t1"]
