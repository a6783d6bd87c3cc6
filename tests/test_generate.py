"""Trajectory generation: resume, grading, retries, failures, SIGKILL mid-run, and the CLI."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fakes import scripted
from typer.testing import CliRunner

from swirl_agents.cli import app
from swirl_agents.datasets import Question, load_questions
from swirl_agents.errors import UsageError
from swirl_agents.generate import generate, is_retryable, record_id, retry_policy
from swirl_agents.tools.calculator import calculator
from swirl_agents.traces import SQLiteTraceStore, open_store

TESTS = Path(__file__).parent


def math_reply(messages) -> str:
    """Computes 6*7 once, then answers with the result it was given."""
    last = messages[-1].text
    if "->" in last:
        return f"So the result is known. <answer>{last.split('->')[-1].strip()}</answer>"
    return "Multiply. <math_exp>6*7</math_exp>"


def questions(n: int) -> list[Question]:
    return [
        Question(f"q{i}", f"What is 6 times 7? ({i})", "42" if i % 2 == 0 else "41", "toy", "train")
        for i in range(n)
    ]


@pytest.fixture
def store(tmp_path):
    with SQLiteTraceStore(tmp_path / "gen.db") as s:
        yield s


def run(store, model, qs, **kw):
    kw.setdefault("samples", 2)
    return generate(
        model, qs, store=store, tools=[calculator], task="math", max_steps=4, progress=False, **kw
    )


def test_generate_grades_stores_and_resumes(store):
    model = scripted(math_reply)
    report = run(store, model, questions(3), concurrency=4)
    assert (report.planned, report.skipped, report.done, report.failed) == (6, 0, 6, 0)
    assert (report.answered, report.correct) == (6, 4)
    assert store.count(source="generated") == 6
    rid = record_id("ScriptedChatModel", "toy", "train", "q0", 1)
    traj = store.get(rid)
    assert traj is not None and traj.sample == 1 and traj.correct and traj.gold_answer == "42"
    assert [s.kind for s in traj.steps] == ["math", "answer"] and traj.steps[
        0
    ].observation == "6*7 -> 42"
    assert traj.metadata["generator"] == "ScriptedChatModel"
    assert traj.metadata["max_steps"] == 4  # the budget, for a judge that sees it
    calls = len(model.calls)
    again = run(store, model, questions(4), concurrency=4)  # one new question
    assert (again.skipped, again.done) == (6, 2) and len(model.calls) == calls + 4
    assert store.count() == 8


class Throttled(Exception):
    status_code = 429


def test_retryable_errors():
    assert (
        is_retryable(Throttled())
        and is_retryable(ConnectionError())
        and is_retryable(TimeoutError())
    )
    assert not is_retryable(ValueError("bad request")) and not is_retryable(KeyError("x"))

    class ServerError(Exception):
        def __init__(self):
            self.response = type("R", (), {"status_code": 503})()

    assert is_retryable(ServerError())


def test_rate_limits_are_retried_and_failures_recorded(store):
    seen: dict[str, int] = {}

    def flaky(messages):
        q = messages[1].text
        seen[q] = seen.get(q, 0) + 1
        if "(0)" in q and seen[q] == 1:
            raise Throttled("slow down")  # retried, then fine
        if "(1)" in q:
            raise ValueError("the model is broken for this one")  # not retried: the run fails
        return math_reply(messages)

    report = run(
        store, scripted(flaky), questions(3), samples=1, retry=retry_policy(initial_interval=0.01)
    )
    assert (report.done, report.failed, report.correct) == (3, 1, 2)
    failed = list(store.iter(outcome="failed"))
    assert len(failed) == 1 and "broken" in failed[0].error and failed[0].question_id == "q1"
    assert failed[0].correct is False
    # a rerun skips the failed pair unless asked to retry it
    assert run(store, scripted(math_reply), questions(3), samples=1).done == 0
    retried = run(store, scripted(math_reply), questions(3), samples=1, retry_failed=True)
    assert retried.done == 1 and store.count(outcome="failed") == 0 and store.count() == 3


SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
from fakes import scripted
from swirl_agents.datasets import load_questions
from swirl_agents.generate import generate
from swirl_agents.tools.calculator import calculator
from swirl_agents.traces import open_store

def slow(messages):
    time.sleep(0.05)
    last = messages[-1].text
    return "<answer>42</answer>" if "->" in last else "<math_exp>6*7</math_exp>"

generate(scripted(slow), load_questions({data!r}), store=open_store({db!r}),
         tools=[calculator], task="math", max_steps=4, samples=2, concurrency=2, progress=False)
"""


def test_resume_after_sigkill(tmp_path, store_url):
    """kill -9 mid-run, then the same job again: every (question, sample) once, none lost, on
    each kind of store."""
    data, db = tmp_path / "toy.jsonl", store_url
    data.write_text(
        "".join(json.dumps({"question": f"6*7? #{i}", "answer": "42"}) + "\n" for i in range(15))
    )
    script = textwrap.dedent(SCRIPT).format(tests=str(TESTS), data=str(data), db=str(db))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.time() + 60
    count = 0
    while time.time() < deadline and count < 6:
        time.sleep(0.1)
        try:
            with open_store(db, must_exist=True) as s:
                count = s.count()
        except UsageError:  # the job has not created its store yet
            pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with open_store(db, must_exist=True) as s:
        partial = s.count()
    assert 6 <= partial < 30, partial  # killed mid-run
    assert subprocess.run([sys.executable, "-c", script], env=env, timeout=120).returncode == 0
    with open_store(db, must_exist=True) as s:
        ids = s.ids()
        assert len(ids) == len(set(ids)) == 30
        qs = load_questions(str(data))
        expected = {
            record_id("ScriptedChatModel", q.dataset, q.split, q.id, k) for q in qs for k in (0, 1)
        }
        assert set(ids) == expected
        assert s.count(outcome="answered") == 30


def test_cli_generate_and_stats(tmp_path, monkeypatch, store_url):
    data = tmp_path / "toy_math.jsonl"
    data.write_text(
        "".join(json.dumps({"question": f"6*7? #{i}", "answer": "42"}) + "\n" for i in range(3))
    )
    model = scripted(math_reply)
    monkeypatch.setattr("swirl_agents.models.load_chat_model", lambda *a, **kw: model)
    db = store_url  # a SQLite file, then a postgresql:// URL
    runner = CliRunner()
    args = [
        "generate",
        "--dataset",
        str(data),
        "--limit",
        "2",
        "--samples",
        "2",
        "--store",
        db,
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["done"], summary["correct"], summary["store"]) == (4, 4, db)
    assert json.loads(runner.invoke(app, args).stdout)["skipped"] == 4  # resumed

    stats = runner.invoke(app, ["traces", "stats", "--store", db, "--json"])
    figures = json.loads(stats.stdout)
    assert figures["total"] == 4 and figures["by_source"] == {"generated": 4}
    assert figures["by_outcome"] == {"answered": 4} and figures["accuracy"] == 1.0

    out = tmp_path / "out.jsonl"
    assert runner.invoke(app, ["traces", "export", str(out), "--store", db]).exit_code == 0
    with out.open("a") as fh:
        fh.write("{broken\n")
    imported = runner.invoke(
        app, ["traces", "import", str(out), "--store", str(tmp_path / "b.db"), "--json"]
    )
    assert imported.exit_code == 1  # a line was rejected; the valid ones still imported
    summary = json.loads(imported.stdout)
    assert summary.pop("batch").startswith("import-")
    assert summary == {
        "read": 4, "added": 4, "duplicates": 0, "malformed": 1, "store": str(tmp_path / "b.db"),
        "format": "swirl",
        "errors": [f"{out}:5: not JSON (Expecting property name enclosed in double quotes at column 2)"],
    }  # fmt: skip
    first_id = json.loads(out.read_text().splitlines()[0])["id"]
    shown = runner.invoke(app, ["traces", "show", first_id, "--store", db])
    assert shown.exit_code == 0 and "6*7 -> 42" in shown.stdout
    missing = runner.invoke(app, ["traces", "show", "nope", "--store", db])
    assert missing.exit_code == 1 and "no record" in missing.output


def test_cli_bad_usage(tmp_path):
    result = CliRunner().invoke(
        app, ["generate", "--dataset", "mnist", "--store", str(tmp_path / "x.db")]
    )
    assert result.exit_code == 2 and "unknown dataset" in result.output
