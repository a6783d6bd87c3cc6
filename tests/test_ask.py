"""``swirl ask``: runs the graph with the chosen model and tools, prints steps and the answer."""

from __future__ import annotations

import json

import pytest
from fakes import scripted
from typer.testing import CliRunner

from swirl_agents.cli import app

SCRIPT = [
    "Half of 48 is what she sold in May. <math_exp>48/2</math_exp>",
    "Now add both months. <math_exp>48+24</math_exp>",
    "<answer>72</answer>",
]
QUESTION = "Natalia sold 48 clips in April and half as many in May. How many in total?"


@pytest.fixture
def model_calls(monkeypatch) -> list[dict]:
    """Patch the model loader with a scripted model; return the recorded loader calls."""
    calls: list[dict] = []

    def fake_load(spec=None, **kwargs):
        calls.append({"spec": spec, **kwargs})
        return scripted(SCRIPT)

    monkeypatch.setattr("swirl_agents.models.load_chat_model", fake_load)
    return calls


def test_ask_json_prints_the_final_state(model_calls):
    result = CliRunner().invoke(app, ["ask", QUESTION, "--json", "--model", "some-dir"])
    assert result.exit_code == 0, result.output
    state = json.loads(result.stdout)
    assert state["answer"] == "72" and state["outcome"] == "answered"
    assert [s["kind"] for s in state["steps"]] == ["math", "math", "answer"]
    assert state["steps"][0]["observation"] == "48/2 -> 24"
    assert state["max_steps"] == 10 and state["tools"] == ["calculator"]
    assert model_calls == [{"spec": "some-dir", "base_url": None, "temperature": 0.0}]


def test_ask_prints_steps_on_stderr_and_the_answer_on_stdout(model_calls):
    result = CliRunner().invoke(app, ["ask", QUESTION])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "72"
    assert "[1] Half of 48" in result.stderr and "calculator: 48/2 -> 24" in result.stderr


def test_ask_reports_no_answer_within_the_budget(model_calls):
    result = CliRunner().invoke(app, ["ask", QUESTION, "--max-steps", "2", "--json"])
    state = json.loads(result.stdout)
    assert state["answer"] is None and state["outcome"] == "no_answer"
    assert len(state["steps"]) == 2


def test_ask_with_a_search_tool_defaults_to_five_steps(model_calls, monkeypatch):
    from langchain_core.tools import tool

    @tool
    def corpus_search(query: str) -> str:
        """Search a fake corpus."""
        return "nothing"

    monkeypatch.setattr(
        "swirl_agents.tools.load_tools", lambda names: [corpus_search] if names else []
    )
    result = CliRunner().invoke(app, ["ask", QUESTION, "--tools", "corpus", "--json"])
    assert json.loads(result.stdout)["max_steps"] == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--tools", "abacus"], "unknown tool"), (["--tools", ","], "names no tool")],
)
def test_ask_bad_usage_exits_2(model_calls, args, message):
    result = CliRunner().invoke(app, ["ask", QUESTION, *args])
    assert result.exit_code == 2 and message in result.stderr


def test_ask_empty_question_exits_2(model_calls):
    result = CliRunner().invoke(app, ["ask", "  "])
    assert result.exit_code == 2 and "empty" in result.stderr
