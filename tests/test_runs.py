"""The one run loop of eval and generate (failed runs, endpoint errors, retries) and `eval --corpus`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import scripted
from langchain_core.messages import AIMessage
from typer.testing import CliRunner

from swirl_agents.datasets import Question
from swirl_agents.errors import EndpointError
from swirl_agents.evaluate import evaluate
from swirl_agents.runs import RunItem, is_retryable, retry_policy, run_agent, trace_fields
from swirl_agents.tools.calculator import calculator

FIXTURE = Path(__file__).parent / "fixtures" / "corpus.jsonl"


def _math(messages) -> str:
    question = messages[1].text
    if "broken" in question:
        raise ValueError("the model is broken for this one")
    if isinstance(messages[-1], AIMessage) or "->" not in messages[-1].text:
        return "<math_exp>6*7</math_exp>"
    return "<answer>42</answer>"


def _items(*questions: str) -> list[RunItem]:
    qs = [Question(f"q{i}", q, "42", "toy", "train") for i, q in enumerate(questions)]
    return [RunItem(q.question, trace_fields(q, f"run-{q.id}", sample=0)) for q in qs]


def test_every_item_finishes_once_and_failed_runs_are_failed_trajectories():
    seen = {}

    def finish(i, traj):
        seen[i] = traj
        return {"done": len(seen)}

    items = _items("6*7?", "broken: 6*7?", "6 times 7?")
    run_agent(
        scripted(_math),
        items,
        finish,
        tools=[calculator],
        task="math",
        max_steps=3,
        source="generated",
        concurrency=2,
        model_label="toy-model",
        progress=False,
    )
    assert sorted(seen) == [0, 1, 2]
    assert [seen[i].id for i in range(3)] == ["run-q0", "run-q1", "run-q2"]
    assert seen[0].outcome == "answered" and seen[0].answer == "42"
    failed = seen[1]
    assert failed.outcome == "failed" and "ValueError: the model is broken" in failed.error
    assert (failed.source, failed.model, failed.gold_answer) == ("generated", "toy-model", "42")
    assert failed.question_id == "q1" and failed.dataset == "toy"


def test_an_endpoint_error_stops_at_the_first_run_without_retrying():
    calls = []

    def refused(messages):
        calls.append(1)
        raise ConnectionRefusedError(111, "Connection refused")

    finished = []
    with pytest.raises(EndpointError, match="Connection refused"):
        run_agent(
            scripted(refused),
            _items("6*7?", "6 times 7?"),
            lambda i, t: finished.append(t),
            tools=[calculator],
            task="math",
            max_steps=3,
            source="eval",
            concurrency=1,
            retry=retry_policy(initial_interval=0.01),
            progress=False,
        )
    assert finished == [] and len(calls) == 1  # stopped at once: no run scored, none retried


class Throttled(Exception):
    status_code = 429


def test_one_retry_policy():
    assert is_retryable(Throttled()) and is_retryable(ConnectionResetError())
    assert is_retryable(TimeoutError())
    # an endpoint that serves no run is not waited for: the job stops at once
    assert not is_retryable(ConnectionRefusedError(111, "Connection refused"))
    assert not is_retryable(ValueError("bad request"))


def test_eval_retries_as_generate_does():
    seen: list[str] = []

    def flaky(messages):
        seen.append(messages[-1].text)
        if len(seen) == 1:
            raise Throttled("slow down")
        return _math(messages)

    report = evaluate(
        scripted(flaky),
        [Question("a", "6*7?", "42", "toy", "test")],
        tools=[calculator],
        task="math",
        max_steps=3,
        retry=retry_policy(initial_interval=0.01),
        progress=False,
    )
    assert report.summary["accuracy"] == 1.0 and report.summary["n_failed"] == 0


@pytest.fixture
def qa_file(tmp_path, monkeypatch):
    """A QA dataset on the fixture corpus, with aliases; the scripted agent searches, answers."""
    monkeypatch.setenv("SWIRL_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "rivers.jsonl"
    rows = [
        {
            "id": "r1",
            "question": "Which is the longest river in Poland?",
            "answer": "Vistula River",
            "aliases": ["the Vistula", "Wisła"],
            "supporting_titles": ["Vistula"],
        }
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def script(messages) -> str:
        if len(messages) == 2:
            return "<search_query>longest river in Poland</search_query>"
        assert "1,047 kilometres" in messages[-1].text  # the result came from --corpus
        return "<answer>Vistula</answer>"

    monkeypatch.setattr(
        "swirl_agents.models.load_chat_model", lambda spec=None, **kw: scripted(script)
    )
    return path


def test_cli_eval_on_ones_own_corpus_with_aliases(qa_file, tmp_path):
    from swirl_agents.cli import app
    from swirl_agents.traces.store import open_store

    db = tmp_path / "t.db"
    args = ["eval", "--dataset", str(qa_file), "--corpus", str(FIXTURE), "--store", str(db)]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n"] == 1 and summary["n_failed"] == 0
    assert summary["accuracy"] == 1.0  # "Vistula" is the alias "the Vistula"
    assert summary["f1"] == 1.0 and summary["recall_at_5"] == 1.0
    with open_store(str(db)) as store:
        (traj,) = list(store.iter())
    assert traj.correct and traj.metadata["gold_aliases"] == ["the Vistula", "Wisła"]
    assert "Vistula" in traj.steps[0].observation


def test_cli_eval_corpus_usage_errors(qa_file, tmp_path, monkeypatch):
    from swirl_agents.cli import app

    monkeypatch.chdir(tmp_path)
    math = tmp_path / "mini_math.jsonl"
    math.write_text(json.dumps({"question": "2+2?", "answer": "4"}) + "\n")
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "--dataset", str(math), "--corpus", str(FIXTURE)])
    assert result.exit_code == 2 and "--corpus is for QA datasets" in result.stderr
    missing = tmp_path / "nope.jsonl"
    result = runner.invoke(app, ["eval", "--dataset", str(qa_file), "--corpus", str(missing)])
    assert result.exit_code == 2 and "corpus not found" in result.stderr
    assert not (tmp_path / "swirl_traces.db").exists()  # nothing opened before the check
