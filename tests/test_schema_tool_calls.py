"""Schema version 2: steps with native tool calls; version-1 records still read."""

import json

from swirl_agents.traces import SCHEMA_VERSION, Step, Trajectory, read_jsonl, write_jsonl
from swirl_agents.traces.schema import READABLE_VERSIONS

V1_RECORD = {
    "question": "Half of 48?",
    "steps": [
        {
            "index": 0,
            "text": "<math_exp>48/2</math_exp>",
            "kind": "math",
            "argument": "48/2",
            "observation": "48/2 -> 24",
            "tool": "calculator",
            "error": "",
            "model": "m",
            "started_at": 1.0,
            "duration_s": 0.5,
            "token_ids": None,
        },
        {"index": 1, "text": "<answer>24</answer>", "kind": "answer", "argument": "24"},
    ],
    "answer": "24",
    "outcome": "answered",
    "source": "generated",
    "id": "old",
    "created_at": 1700000000.0,
    "schema_version": 1,
}


def test_a_version_1_record_reads_as_version_2(tmp_path) -> None:
    assert SCHEMA_VERSION == 2 and 1 in READABLE_VERSIONS
    traj = Trajectory.from_dict(json.loads(json.dumps(V1_RECORD)))
    assert traj.schema_version == 2 and [s.tool_calls for s in traj.steps] == [None, None]
    assert (traj.steps[0].observation, traj.answer) == ("48/2 -> 24", "24")
    path = tmp_path / "v1.jsonl"
    path.write_text(json.dumps(V1_RECORD) + "\n")
    assert read_jsonl(path) == [traj]


def test_tool_calls_round_trip(tmp_path) -> None:
    calls = [
        {"id": "c1", "name": "convert", "args": {"amount": 3, "unit": "km"}, "output": "3000 m"},
        {"id": "c2", "name": "lookup", "args": {"q": "x"}, "output": "Error", "status": "error"},
    ]
    traj = Trajectory(
        question="q",
        steps=[Step(0, "Let me check.", "tool", tool="convert, lookup", tool_calls=calls)],
        protocol="swirl-tools/1",
    )
    again = Trajectory.from_dict(json.loads(traj.to_json()))
    assert again == traj and again.steps[0].tool_calls[0]["args"] == {"amount": 3, "unit": "km"}
    write_jsonl(tmp_path / "t.jsonl", [traj])
    assert read_jsonl(tmp_path / "t.jsonl") == [traj]


def test_a_version_1_store_still_reads(tmp_path) -> None:
    import sqlite3

    from swirl_agents.traces import SQLiteTraceStore

    path = tmp_path / "v1.db"
    store = SQLiteTraceStore(path)
    store.add(Trajectory.from_dict(V1_RECORD))
    store.close()
    with sqlite3.connect(path) as conn:  # the row exactly as a version-1 writer left it
        conn.execute("UPDATE trajectories SET record = ?", (json.dumps(V1_RECORD),))
    store = SQLiteTraceStore(path)
    try:
        (traj,) = list(store.iter())
        assert (traj.id, traj.schema_version, traj.steps[0].tool_calls) == ("old", 2, None)
    finally:
        store.close()
