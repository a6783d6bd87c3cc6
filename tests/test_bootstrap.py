"""Annotation bootstrap on real records: every converted trajectory re-checked by re-running its tools."""

from collections import Counter

import pytest

from swirl_agents import protocol
from swirl_agents.bootstrap import _agrees, bootstrap, convert_gsm8k
from swirl_agents.datasets import Question
from swirl_agents.errors import UsageError
from swirl_agents.grading import grade
from swirl_agents.tools.calculator import calculate


def recheck(traj, run_tool) -> None:
    """The record is what an agent run taking these actions would log: same texts, same tool output."""
    assert traj.source == "annotation" and traj.outcome == "answered" and traj.correct
    for i, step in enumerate(traj.steps):
        action = protocol.parse_action(step.text)
        assert (step.index, action.kind, action.argument) == (i, step.kind, step.argument)
        if step.kind == "answer":
            assert i == len(traj.steps) - 1 and step.observation is None
        else:
            expected = protocol.render_tool_result(step.argument, run_tool(step.argument))
            assert step.observation == expected
    assert grade(traj.answer, traj.gold_answer, traj.task)


def test_gsm8k_first_50():
    result = bootstrap("gsm8k", "train", limit=50, progress=False)
    assert result.total == 50 and len(result.trajectories) >= 45
    for traj in result.trajectories:
        recheck(traj, calculate)
        assert traj.system_prompt == protocol.system_prompt(["math_exp"], 10, "math")
    first = result.trajectories[0]
    assert [s.argument for s in first.steps] == ["48/2", "48+24", "72"]
    assert first.steps[0].text == "Natalia sold 48/2 <math_exp>48/2</math_exp>"
    assert first.id == "annotation/gsm8k/gsm8k-train-00000"


def test_hotpotqa_first_50():
    from swirl_agents.tools.corpus import CorpusSearch

    corpus = CorpusSearch()
    result = bootstrap("hotpotqa", "train", limit=50, corpus=corpus, progress=False)
    assert result.total == 50 and len(result.trajectories) >= 40
    tool = corpus.as_tool()
    for traj in result.trajectories:
        recheck(traj, tool.invoke)
        searched = {s.argument for s in traj.steps if s.kind == "search"}
        assert traj.metadata["annotation"] == "hotpotqa-supporting-titles"
        assert searched
        for title in searched:  # each gold title was among its own search's hits
            assert title in {h.title for h in corpus.search(title)}
        assert traj.system_prompt == protocol.system_prompt(["search_query"], 5, "qa")


def gsm(solution: str, answer: str) -> Question:
    return Question("g-1", "q?", answer, "gsm8k", "train", {"solution": solution})


@pytest.mark.parametrize(
    "solution, answer, reason",
    [
        ("He has 2+3 = <<2+3=6>>6.\n#### 6", "6", "value_mismatch"),
        ("He has 2+3 = 5 apples.\n#### 5", "5", "no_annotations"),
        ("<<2+3=5>>5 so 5*2 = 10.\n#### 10", "10", "answer_not_computed"),
        ("<<2+abc=5>>5\n#### 5", "5", "calculator_error"),
        ("<<5>>5\n#### 5", "5", "malformed_annotation"),
        ("".join(f"<<{i}+1={i + 1}>>\n" for i in range(10)) + "#### 10", "10", "too_many_steps"),
    ],
)
def test_gsm8k_skips_are_counted_by_reason(solution, answer, reason):
    result = convert_gsm8k([gsm(solution, answer)])
    assert not result.trajectories and result.skipped == Counter({reason: 1})


def test_rounded_annotations_agree():
    assert _agrees("3.333333", "3.33") and _agrees("144", "144.00") and _agrees("0.4", ".4")
    assert not _agrees("3.333333", "3.4") and not _agrees("7", "6")


def test_evaluation_splits_are_refused():
    with pytest.raises(UsageError, match="refusing"):
        bootstrap("gsm8k", "test")
