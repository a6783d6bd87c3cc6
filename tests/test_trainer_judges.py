"""Step examples, judges (rule and LLM, cache, votes, odd verdicts) and filters."""

from __future__ import annotations

import pytest
from fakes import scripted
from trainer_fixtures import (
    FIXTURES,
    GOOD_MATH,
    GOOD_PROCESS_WRONG,
    GOOD_QA,
    LUCKY_MATH,
    REPEAT_QA,
    UNSUPPORTED_QA,
    WRONG_MATH,
    qa_traj,
)

from swirl_agents.errors import UsageError
from swirl_agents.protocol import build_messages
from swirl_agents.traces.schema import Step
from trainer.examples import step_examples
from trainer.filters import filter_trajectories
from trainer.judges import (
    LLMOutcomeJudge,
    LLMProcessJudge,
    RuleOutcomeJudge,
    RuleProcessJudge,
    StepContext,
    VerdictCache,
    numbers_in,
    parse_verdict,
    step_contexts,
    task_of,
)


def test_step_examples_are_the_agent_states():
    examples = step_examples(GOOD_MATH)
    assert len(examples) == 3
    steps = GOOD_MATH.steps
    for i, ex in enumerate(examples):
        assert ex.messages == build_messages(
            GOOD_MATH.system_prompt, GOOD_MATH.question, steps, upto=i
        )
        assert ex.completion == GOOD_MATH.steps[i].text
        assert ex.weight == 1.0
    assert examples[2].messages[-1].content == "48+24 -> 72"
    assert [e.weight for e in step_examples(GOOD_MATH, normalize=True)] == [
        pytest.approx(1 / 3)
    ] * 3


def test_numbers_in_reads_digits_percents_and_words():
    found = numbers_in("She paid $1,200.50 for 20% of a dozen, half of it")
    assert {1200.5, 20, 0.2, 12, 2} <= {float(n) for n in found}


@pytest.mark.parametrize(
    ("traj", "verdicts"),
    [
        (GOOD_MATH, ["good", "good", "good"]),
        (LUCKY_MATH, ["bad", "good", "good"]),
        (WRONG_MATH, ["good", "bad"]),
        (GOOD_QA, ["good", "good"]),
        (REPEAT_QA, ["good", "bad", "good"]),
        (UNSUPPORTED_QA, ["good", "bad"]),
    ],
)
def test_rule_process_judge(traj, verdicts):
    assert RuleProcessJudge().judge_steps(step_contexts(traj)) == verdicts


def test_rule_judge_reads_an_answer_in_the_results_not_in_a_query_holding_an_arrow():
    # "Paris" is written only in the query, after its own " -> "
    guess = qa_traj([("capital -> Paris", "Lyon is in France.")], "Paris", "Paris")
    assert RuleProcessJudge().judge_steps(step_contexts(guess)) == ["good", "bad"]
    found = qa_traj([("capital -> France", "Paris is its capital.")], "Paris", "Paris")
    assert RuleProcessJudge().judge_steps(step_contexts(found)) == ["good", "good"]


def test_rule_process_judge_rejects_invalid_and_failing_actions():
    judge = RuleProcessJudge()
    q = "Tom has 3 apples and buys 4 more."
    assert judge.judge(StepContext(q, [], "I think the answer is 7.", "math")) == "bad"
    assert judge.judge(StepContext(q, [], "<math_exp>3 + apples</math_exp>", "math")) == "bad"
    assert judge.judge(StepContext(q, [], "<math_exp>3+4</math_exp>", "math")) == "good"
    # An answer with no tool result behind it is not supported.
    assert judge.judge(StepContext(q, [], "<answer>7</answer>", "math")) == "bad"
    assert task_of(GOOD_QA) == "qa" and task_of(GOOD_MATH) == "math"


def test_rule_process_judge_rejects_a_repeated_calculation():
    judge = RuleProcessJudge()
    q = "Tom has 3 apples and buys 4 more."
    done = [Step(0, "<math_exp>3+4</math_exp>", "math", "3+4", "3+4 -> 7")]
    assert judge.judge(StepContext(q, done, "Again <math_exp>3 + 4</math_exp>", "math")) == "bad"
    assert judge.judge(StepContext(q, done, "Then <math_exp>7*3</math_exp>", "math")) == "good"


def test_rule_outcome_judge():
    assert RuleOutcomeJudge().judge_outcomes([GOOD_MATH, WRONG_MATH, GOOD_QA, UNSUPPORTED_QA]) == [
        "yes",
        "no",
        "yes",
        "no",
    ]


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("GOOD", "good"),
        ("bad", "bad"),
        ("Verdict: **Good**.", "good"),
        ("The step is reasonable.\nGOOD", "good"),
        ("GOOD or BAD? BAD", "unknown"),
        ("not good", "unknown"),
        ("", "unknown"),
        ("goodness me", "unknown"),
        ("I cannot tell.", "unknown"),
    ],
)
def test_parse_verdict(reply, verdict):
    assert parse_verdict(reply, "good", "bad") == verdict


def test_filters_keep_exactly_what_they_should():
    process, outcome = RuleProcessJudge(), RuleOutcomeJudge()

    def ids(mode):
        result = filter_trajectories(FIXTURES, mode, process_judge=process, outcome_judge=outcome)
        return [t.id for t in result.kept], result.stages

    assert ids("none")[0] == [t.id for t in FIXTURES]
    kept, stages = ids("outcome")
    assert kept == ["good", "lucky", "qa-good", "qa-repeat"]
    assert stages == {"input": 7, "with_steps": 7, "outcome": 4, "kept": 4}
    assert ids("process")[0] == ["good", "good-process-wrong", "qa-good"]
    kept, stages = ids("both")
    assert kept == ["good", "qa-good"]
    assert stages == {"input": 7, "with_steps": 7, "outcome": 4, "process": 2, "kept": 2}


class _ScriptedJudge:
    """Verdicts by (query of the step, or "answer"): the prefix filter's only input."""

    name = "scripted"

    def __init__(self, verdicts: dict[str, str]) -> None:
        self.verdicts = verdicts

    def judge_steps(self, contexts):
        return [self.verdicts[c.action.split(">")[1].split("<")[0]] for c in contexts]


def test_prefix_filter_keeps_each_trajectory_up_to_its_first_non_good_step():
    cut = qa_traj([("a", "A."), ("b", "B.")], "Paris", "Paris", id="cut")  # good, bad, (good)
    first_bad = qa_traj([("b", "B.")], "Paris", "Paris", id="first-bad")
    unknown = qa_traj([("a", "A."), ("u", "U.")], "Paris", "Paris", id="unknown")
    whole = qa_traj([("a", "A.")], "Paris", "Paris", id="whole")
    judge = _ScriptedJudge({"a": "good", "b": "bad", "u": "unknown", "Paris": "good"})
    data = [cut, first_bad, unknown, whole]

    result = filter_trajectories(data, "process", process_judge=judge, prefix=True)

    assert [t.id for t in result.kept] == ["cut", "unknown", "whole"]
    assert [len(t.steps) for t in result.kept] == [1, 1, 2]
    assert result.kept[0].metadata["prefix"] == {"kept_steps": 1, "run_steps": 3}
    assert result.kept[0].answer == "Paris"  # the run's own record, not re-shaped
    assert result.kept[2] is whole and "prefix" not in whole.metadata
    assert len(cut.steps) == 3  # the input is not changed
    assert result.stages["prefix"] == 3 and result.stages["prefix_steps"] == 4
    # without --prefix, only the all-GOOD trajectory passes
    plain = filter_trajectories(data, "process", process_judge=judge)
    assert [t.id for t in plain.kept] == ["whole"]


def test_outcome_filter_needs_gold():
    production = qa_traj([("capital of France", "Paris is the capital.")], "Paris", None)
    with pytest.raises(UsageError, match="gold"):
        filter_trajectories(
            [production], "both", process_judge=RuleProcessJudge(), outcome_judge=RuleOutcomeJudge()
        )
    result = filter_trajectories([production], "process", process_judge=RuleProcessJudge())
    assert len(result.kept) == 1


def test_llm_process_judge_caches_votes_and_counts_unknown(tmp_path):
    model = scripted(["GOOD", "BAD", "GOOD", "hmm"])
    # One call at a time, so the scripted replies arrive in order.
    judge = LLMProcessJudge(
        model, cache=VerdictCache(tmp_path / "v.db"), votes=3, max_concurrency=1
    )
    contexts = step_contexts(GOOD_MATH)[:2]
    # votes per context: (GOOD, BAD, GOOD) -> good; (hmm, GOOD, BAD) -> tie of 1s -> unknown
    assert judge.judge_steps(contexts) == ["good", "unknown"]
    assert judge.calls == 6 and len(model.calls) == 6
    assert "gold" not in model.calls[0]["messages"][1].content.lower()
    assert "72" not in model.calls[0]["messages"][1].content  # the gold answer is never shown

    # A rerun (same judge name, prompts and votes) is answered from the cache: no model call.
    again = LLMProcessJudge(scripted(["BAD"]), cache=VerdictCache(tmp_path / "v.db"), votes=3)
    assert again.judge_steps(contexts) == ["good", "unknown"]
    assert again.calls == 0
    assert judge.counts == {"good": 1, "unknown": 1}


def test_llm_judges_filter_end_to_end(tmp_path):
    outcome = LLMOutcomeJudge(scripted(["YES", "no"]), cache=VerdictCache(tmp_path / "v.db"))
    process = LLMProcessJudge(scripted(["GOOD"]), cache=VerdictCache(tmp_path / "v.db"))
    result = filter_trajectories(
        [GOOD_MATH, GOOD_PROCESS_WRONG], "both", process_judge=process, outcome_judge=outcome
    )
    assert [t.id for t in result.kept] == ["good"]
    assert result.verdicts == {"good": 3}
    assert "Reference answer: 72" in outcome.model.calls[0]["messages"][1].content
