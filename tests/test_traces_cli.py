"""``swirl traces``: strict per-line import, import batches and delete, reading never creates a store,
and a light ``import swirl_agents``."""

import json
import sqlite3
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from swirl_agents.cli import app
from swirl_agents.errors import UsageError
from swirl_agents.traces import (
    LineError,
    SchemaError,
    SQLiteTraceStore,
    Step,
    Trajectory,
    load_trajectories,
    open_store,
    parse_record,
    read_jsonl,
)

runner = CliRunner()


def traj(i: int, **kw) -> Trajectory:
    fields = dict(
        question=f"q{i}",
        steps=[Step(0, "<answer>1</answer>", "answer", "1")],
        answer="1",
        outcome="answered",
        id=f"t{i}",
    )
    return Trajectory(**(fields | kw))


def line(t: Trajectory) -> bytes:
    return t.to_json().encode()


def invoke(*args: str):
    return runner.invoke(app, list(args))


# --- import: every line whole or not at all, with a readable reason -------------------------


BAD_LINES = [  # (raw line, a phrase its reason must contain)
    (b'{"question": "What is 2+2?", "answer": "4"}', "a dataset question (question/answer)"),
    (b'{"question": "caf\xe9", "steps": [], "outcome": "failed"}', "not UTF-8 text (byte 0xe9"),
    (b'{"question": "a\tb"}', "not JSON (Invalid control character at column"),
    (b"{broken", "not JSON (Expecting property name"),
    (b'{"steps": [], "outcome": "failed"}', "missing required field(s): 'question'"),
    (line(traj(90, steps=[], outcome="no_answer")), "no steps"),
    (line(traj(91)).replace(b'"kind": "answer"', b'"kind": "dance"'), "'steps[0].kind'"),
    (line(traj(92)).replace(b'"sample": 0', b'"sample": "0"'), "'sample' must be an integer"),
    (line(traj(93)).replace(b'"index": 0', b'"index": true'), "'steps[0].index' must be"),
    (b"[1, 2]", "must be a JSON object, got a list"),
]


def mixed_file(tmp_path):
    """Valid records on lines 1, 3, 5, ...; each bad line in between."""
    raw: list[bytes] = []
    for k, (bad, _) in enumerate(BAD_LINES):
        raw += [line(traj(k)), bad]
    raw.append(line(traj(99, steps=[], outcome="failed", answer=None, error="connection refused")))
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(raw) + b"\n")
    return path


def test_every_valid_line_imports_and_each_bad_line_says_why(tmp_path):
    path = mixed_file(tmp_path)
    errors: list[LineError] = []
    got = read_jsonl(path, errors=errors)
    # the non-UTF-8 line does not stop the file: every valid record is read
    assert [t.id for t in got] == [f"t{k}" for k in range(len(BAD_LINES))] + ["t99"]
    assert [e.line for e in errors] == [2 * (k + 1) for k in range(len(BAD_LINES))]
    for error, (_, phrase) in zip(errors, BAD_LINES, strict=True):
        assert phrase in error.reason, error
        assert "__init__" not in error.reason and "at at" not in error.reason
        assert str(error).startswith(f"{path}:{error.line}: ")


def test_cli_import_reports_lines_imports_the_rest_and_exits_1(tmp_path):
    path, db = mixed_file(tmp_path), tmp_path / "s.db"
    result = invoke("traces", "import", str(path), "--store", str(db), "--json")
    assert result.exit_code == 1, result.output  # some lines were rejected
    summary = json.loads(result.stdout)
    assert (summary["read"], summary["added"], summary["malformed"]) == (11, 11, 10)
    assert "mixed.jsonl:4: not UTF-8 text" in result.stderr
    with SQLiteTraceStore(db) as s:
        assert s.count() == 11
        assert s.count(outcome="failed") == 1  # failed before its first step: a documented record
        assert all(t.metadata["import_batch"] == summary["batch"] for t in s.iter())


def test_cli_import_of_a_dataset_file_adds_nothing(tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text('{"question": "2+2?", "answer": "4"}\n{"question": "3+3?", "answer": "6"}\n')
    db = tmp_path / "s.db"
    result = invoke("traces", "import", str(data), "--store", str(db))
    assert result.exit_code == 1
    assert result.stderr.count("a dataset question") == 2 and "qa.jsonl:2:" in result.stderr
    assert "imported 0 new records" in result.stdout
    assert json.loads(invoke("traces", "stats", "--store", str(db), "--json").stdout)["total"] == 0


def test_cli_import_of_a_clean_file_exits_0_and_a_store_is_not_jsonl(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_bytes(b"\n".join(line(traj(i)) for i in range(3)) + b"\n")
    db = tmp_path / "s.db"
    result = invoke("traces", "import", str(good), "--store", str(db), "--batch", "b1")
    assert result.exit_code == 0 and "imported 3 new records" in result.stdout
    assert "batch b1" in result.stdout
    again = invoke("traces", "import", str(db), "--store", str(tmp_path / "t.db"))
    assert again.exit_code == 2 and "SQLite trace store, not a JSONL file" in again.output
    assert not (tmp_path / "t.db").exists()
    missing = invoke("traces", "import", str(tmp_path / "nope.jsonl"), "--store", str(db))
    assert missing.exit_code == 1 and "no such file" in missing.output


def test_parse_record_rules():
    t = traj(0)
    assert parse_record(t.to_dict()) == t
    minimal = {"question": "q", "steps": [{"index": 0, "text": "t", "kind": "invalid"}]}
    with pytest.raises(SchemaError, match="'outcome'"):
        parse_record(minimal)
    assert parse_record(minimal | {"outcome": "no_answer"}).steps[0].kind == "invalid"
    assert parse_record({"question": "q", "steps": [], "outcome": "failed"}).steps == []
    call = {"id": "c1", "name": "calculator", "args": {"expression": "1+1"}, "output": "2"}
    native = Step(0, "", "tool", "calculator(1+1)", tool="calculator", tool_calls=[call])
    assert parse_record(traj(1, steps=[native]).to_dict()).steps[0].tool_calls == [call]
    with pytest.raises(SchemaError, match="must be a number, got true/false"):
        parse_record(traj(0).to_dict() | {"created_at": True})


# --- delete: by id, by source, by import batch -----------------------------------------------


@pytest.fixture
def two_batches(tmp_path):
    db = tmp_path / "s.db"
    for name, ids in (("a", range(3)), ("b", range(3, 5))):
        f = tmp_path / f"{name}.jsonl"
        f.write_bytes(b"\n".join(line(traj(i)) for i in ids) + b"\n")
        assert (
            invoke("traces", "import", str(f), "--store", str(db), "--batch", name).exit_code == 0
        )
    with SQLiteTraceStore(db) as s:
        s.add(traj(9, source="generated"))
    return str(db)


def total(db: str, *filters: str) -> int:
    return json.loads(invoke("traces", "stats", "--store", db, "--json", *filters).stdout)["total"]


def test_delete_a_batch_needs_yes_when_not_interactive(two_batches):
    db = two_batches
    assert total(db, "--batch", "a") == 3
    refused = invoke("traces", "delete", "--batch", "a", "--store", db)
    assert refused.exit_code == 2 and "3 records match --batch a" in refused.output
    assert "--yes" in refused.output and total(db) == 6
    dry = invoke("traces", "delete", "--batch", "a", "--store", db, "--dry-run", "--json")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["matched"] == 3 and total(db) == 6
    done = invoke("traces", "delete", "--batch", "a", "--store", db, "--yes")
    assert done.exit_code == 0 and "deleted 3 records" in done.stdout
    assert total(db) == 3 and total(db, "--batch", "b") == 2


def test_delete_asks_a_person(two_batches, monkeypatch):
    monkeypatch.setattr("swirl_agents.cli.traces._interactive", lambda: True)
    no = runner.invoke(
        app, ["traces", "delete", "--batch", "b", "--store", two_batches], input="n\n"
    )
    assert no.exit_code == 1 and total(two_batches) == 6
    yes = runner.invoke(
        app, ["traces", "delete", "--batch", "b", "--store", two_batches], input="y\n"
    )
    assert yes.exit_code == 0 and "deleted 2 records" in yes.stdout and total(two_batches) == 4


def test_delete_by_id_and_by_source(two_batches):
    db = two_batches
    result = invoke("traces", "delete", "t0", "t1", "--store", db, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["deleted"] == 2
    missing = invoke("traces", "delete", "t2", "nope", "--store", db)
    assert missing.exit_code == 1 and "deleted 1 record " in missing.stdout
    assert "nope" in missing.stderr
    by_source = invoke("traces", "delete", "--source", "generated", "--store", db, "-y")
    assert by_source.exit_code == 0 and "deleted 1 record " in by_source.stdout
    assert total(db) == 2


def test_delete_needs_a_selection(two_batches):
    nothing = invoke("traces", "delete", "--store", two_batches)
    assert nothing.exit_code == 2 and "nothing to delete" in nothing.output
    both = invoke("traces", "delete", "t3", "--batch", "b", "--store", two_batches)
    assert both.exit_code == 2 and total(two_batches) == 6


# --- reading never creates a store ------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["traces", "stats"],
        ["traces", "stats", "--json"],
        ["traces", "show", "t0"],
        ["traces", "export", "OUT"],
        ["traces", "delete", "t0"],
    ],
)
def test_reading_commands_refuse_a_missing_store(tmp_path, args):
    typo = tmp_path / "typo.db"
    args = [str(tmp_path / "out.jsonl") if a == "OUT" else a for a in args]
    result = invoke(*args, "--store", str(typo))
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: no trace store at {typo} (check --store or $SWIRL_STORE; "
        "commands that only read a store never create one)"
    ]
    assert result.stdout == ""  # --json leaves stdout empty on failure
    assert not typo.exists() and not (tmp_path / "out.jsonl").exists()


def test_open_store_must_exist(tmp_path):
    with pytest.raises(UsageError, match="no trace store"):
        open_store(tmp_path / "sub" / "typo.db", must_exist=True)
    with pytest.raises(UsageError, match="no trace store"):
        load_trajectories(tmp_path / "typo.db")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its directory
    with pytest.raises(UsageError, match="directory"):
        open_store(tmp_path, must_exist=True)

    other = tmp_path / "other.db"  # somebody else's SQLite database is left alone
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(UsageError, match="not a trace store"):
        open_store(other, must_exist=True)
    with sqlite3.connect(other) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["users"]

    created = open_store(tmp_path / "new.db")  # writers create it
    created.add(traj(0))
    created.close()
    with open_store(tmp_path / "new.db", must_exist=True) as s:
        assert s.count() == 1


# --- a light import ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, heavy",
    [
        ("import swirl_agents", ("torch", "transformers", "langgraph", "langchain_core", "bm25s")),
        ("import swirl_agents.traces", ("torch", "transformers", "langgraph", "langchain_core")),
        ("import swirl_agents.cli", ("torch", "transformers", "bm25s", "langchain_openai")),
        ("import swirl_agents.cli", ("langgraph", "langchain_core")),
    ],
)
def test_import_does_not_load_heavy_packages(code, heavy):
    probe = f"{code}\nimport sys\nprint([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_lazy_public_names():
    import swirl_agents

    assert swirl_agents.Action.__name__ == "Action"
    assert callable(swirl_agents.parse_action) and callable(swirl_agents.create_swirl_agent)
    assert swirl_agents.protocol.PROTOCOL_VERSION  # submodules by attribute, too
    with pytest.raises(AttributeError):
        swirl_agents.nope  # noqa: B018


def test_import_batch_filter_on_files_and_stores(tmp_path):
    from swirl_agents.traces import write_jsonl

    trajs = [
        traj(0, metadata={"import_batch": "x"}),
        traj(1),
        traj(2, metadata={"import_batch": "y"}),
    ]
    write_jsonl(tmp_path / "t.jsonl", trajs)
    with SQLiteTraceStore(tmp_path / "t.db") as store:
        store.add_many(trajs)
        for src in (tmp_path / "t.jsonl", store):
            assert [t.id for t in load_trajectories(src, import_batch="x")] == ["t0"]
        assert store.ids(import_batch="y") == ["t2"] and store.count(import_batch="z") == 0
