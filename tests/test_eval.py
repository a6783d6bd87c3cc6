"""Evaluation: metrics on scripted models, the LLM grader, reports, and `swirl eval --json`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fakes import scripted
from fakes import toy_question as Q
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from swirl_agents.evaluate import LLMGrader, evaluate, wilson_interval


@tool
def calculator(expression: str) -> str:
    """Evaluate arithmetic."""
    return str(eval(expression, {"__builtins__": {}}))  # test-only, trusted input


calculator.metadata = {"swirl_tag": "math_exp"}


@tool
def search(query: str) -> str:
    """Search a toy corpus."""
    return "Paris is the capital of France."


search.metadata = {"swirl_tag": "search_query"}


class ListStore:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def add(self, traj: Any) -> None:
        self.items.append(traj)


def _math_script(messages) -> str:
    question = messages[1].content
    turns = sum(isinstance(m, AIMessage) for m in messages)
    if "2+2" in question:
        return "Add. <math_exp>2+2</math_exp>" if turns == 0 else "Done. <answer>4</answer>"
    if "boom" in question:
        raise RuntimeError("model down")
    if "wrong" in question:
        return "<answer>5</answer>"
    return "I am not sure what to do."


MATH = [
    Q("a", "What is 2+2?", "4"),
    Q("b", "Ramble forever", "7"),
    Q("c", "boom", "1"),
    Q("d", "wrong again", "6"),
]


def test_wilson_interval_matches_known_values() -> None:
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_metrics_count_failed_runs_and_every_call() -> None:
    store = ListStore()
    report = evaluate(
        scripted(_math_script),
        MATH,
        tools=[calculator],
        task="math",
        max_steps=3,
        concurrency=4,
        store=store,
        progress=False,
    )
    s = report.summary
    assert s["n"] == 4 and s["correct"] == 1 and s["n_failed"] == 1
    assert s["accuracy"] == 0.25
    assert s["accuracy_ci95"] == list(wilson_interval(1, 4))
    # calls: a 2 valid, b 3 invalid, c none (failed), d 1 valid -> 3 valid of 6
    assert s["valid_action_rate"] == pytest.approx(3 / 6)
    assert s["mean_steps"] == pytest.approx((2 + 3 + 1) / 3)
    assert s["actions"] == {"answer": 2, "invalid": 3, "math": 1}
    by_id = {r.question_id: r for r in report.results}
    assert by_id["a"].correct and by_id["a"].answer == "4"
    assert by_id["b"].outcome == "no_answer" and not by_id["b"].correct
    assert by_id["c"].outcome == "failed" and "model down" in by_id["c"].error
    assert [r.question_id for r in report.results] == ["a", "b", "c", "d"]  # input order
    stored = {t.question_id: t for t in store.items}
    assert len(stored) == 4 and {t.source for t in store.items} == {"eval"}
    assert stored["a"].correct is True and stored["d"].correct is False
    assert stored["c"].outcome == "failed" and stored["a"].gold_answer == "4"
    assert stored["a"].id == by_id["a"].trace_id


def test_qa_metrics_f1_and_recall_at_5() -> None:
    def script(messages) -> str:
        if len(messages) == 2:
            return "<search_query>capital of France</search_query>"
        return "<answer>the city of Paris</answer>"

    questions = [
        Q("x", "Capital of France?", "Paris", metadata={"supporting_titles": ["Paris", "France"]})
    ]
    report = evaluate(
        scripted(script),
        questions,
        tools=[search],
        task="qa",
        max_steps=5,
        title_search=lambda q: ["Paris", "Lyon"],
        progress=False,
    )
    r = report.results[0]
    assert not r.correct  # exact match fails on "the city of Paris"
    assert r.f1 == pytest.approx(0.5)  # "city of paris" vs "paris": P 1/3, R 1
    assert r.recall_at_5 == 0.5
    assert report.summary["recall_at_5"] == 0.5 and report.summary["f1"] == pytest.approx(r.f1)


def test_llm_grader_unknown_verdict_counts_wrong() -> None:
    grader = LLMGrader(scripted(["YES", "I cannot say"]))
    assert grader("q", "four", "4") is True
    assert grader("q", "four", "4") is None
    assert grader("q", None, "4") is False  # no answer: no call

    report = evaluate(
        scripted(["<answer>four</answer>"]),
        [Q("a", "2+2?", "4")],
        tools=[calculator],
        task="math",
        max_steps=2,
        grader=LLMGrader(scripted(["It depends."])),
        progress=False,
    )
    assert report.summary["n_unknown"] == 1 and report.summary["accuracy"] == 0.0
    assert report.results[0].verdict == "unknown"


def test_report_files_are_written(tmp_path) -> None:
    from swirl_agents.report import markdown_table, write_report

    report = evaluate(
        scripted(_math_script),
        MATH,
        tools=[calculator],
        task="math",
        max_steps=3,
        progress=False,
    )
    paths = write_report(report, tmp_path / "rep")
    names = {p.name for p in (tmp_path / "rep").iterdir()}
    assert names == {
        "results.jsonl",
        "summary.json",
        "summary.md",
        "accuracy.png",
        "steps.png",
        "actions.png",
    }
    rows = [json.loads(line) for line in paths["results"].read_text().splitlines()]
    assert [r["question_id"] for r in rows] == ["a", "b", "c", "d"]
    assert json.loads(paths["summary_json"].read_text())["n"] == 4
    assert "25.0%" in paths["summary_md"].read_text()
    assert markdown_table([report.summary]).count("\n") == 2


@pytest.fixture
def math_file(tmp_path, monkeypatch):
    path = tmp_path / "mini_math.jsonl"  # "math" in the name: the math task and the calculator
    rows = [
        {"id": "a", "question": "What is 2+2?", "answer": "4"},
        {"question": "boom", "answer": "1"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(
        "swirl_agents.models.load_chat_model", lambda spec=None, **kw: scripted(_math_script)
    )
    return path


def test_cli_json_prints_exactly_one_document_and_stores_runs(math_file, tmp_path) -> None:
    from typer.testing import CliRunner

    from swirl_agents.cli import app
    from swirl_agents.traces.store import open_store

    db, rep = tmp_path / "t.db", tmp_path / "rep"
    args = ["eval", "--dataset", str(math_file), "--json", "--store", str(db), "--report", str(rep)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # the whole of stdout is one JSON document
    for key in ("dataset", "split", "n", "accuracy", "accuracy_ci95", "valid_action_rate", "mean_steps", "model"):  # fmt: skip
        assert key in summary
    assert summary["n"] == 2 and summary["accuracy"] == 0.5 and summary["model"] == "smollm2"
    assert summary["dataset"] == "mini_math" and summary["n_failed"] == 1
    assert (rep / "summary.md").exists()
    store = open_store(str(db))
    assert store.count(source="eval") == 2
    store.close()


def test_cli_bad_dataset_is_a_one_line_usage_error(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from swirl_agents.cli import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["eval", "--dataset", "mnist", "--json"])
    assert result.exit_code == 2 and result.stdout == ""
    assert not list(tmp_path.iterdir())  # no store was created
    assert result.stderr.strip().startswith("error: unknown dataset")


def test_progress_counts_every_model_call_while_runs_are_in_flight(capsys) -> None:
    evaluate(
        scripted(_math_script),
        [MATH[0], MATH[1], MATH[3]],  # 2 + 3 + 1 model calls
        tools=[calculator],
        task="math",
        max_steps=3,
        concurrency=4,
        progress=True,
    )
    err = capsys.readouterr().err
    assert "steps 6 (" in err.rsplit("\r", 1)[-1]  # the bar's last state: every call counted
