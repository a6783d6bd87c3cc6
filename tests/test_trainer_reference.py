"""The reference judge (reads training reference solutions) and the strict rule judge."""

from __future__ import annotations

from decimal import Decimal

import pytest
from trainer_fixtures import math_traj

from swirl_agents.errors import UsageError
from swirl_agents.traces.schema import Step
from trainer.judges import StepContext, make_judges, step_contexts
from trainer.reference import (
    Reference,
    ReferenceJudge,
    StrictRuleJudge,
    gsm8k_values,
    refuse_eval_splits,
    training_references,
)

NATALIA = math_traj([("48/2", "24"), ("48+24", "72")], "72").question
REFS = {
    NATALIA: Reference("math", "72", [Decimal(24), Decimal(72)]),
    "Which band is older?": Reference("qa", "Queen", titles={"Queen (band)", "Muse (band)"}),
}
CORPUS = {"queen": ("Queen (band)", "Freddie"), "muse": ("Muse (band)",), "pie": ("Pie",)}


def judge() -> ReferenceJudge:
    return ReferenceJudge(REFS, titles_for=lambda q: CORPUS.get(q.lower(), ()))


def math_step(history: list[str], action: str) -> StepContext:
    steps = [Step(i, "", "math", e) for i, e in enumerate(history)]
    return StepContext(NATALIA, steps, action, "math")


def test_gsm8k_values_are_the_annotation_results():
    assert gsm8k_values("Half: <<48/2=24>>24. Total <<48+24=72>>72.\n#### 72") == [24, 72]


def test_a_calculator_step_is_good_only_when_it_computes_a_new_reference_value():
    j = judge()
    assert j.judge(math_step([], "Half of April. <math_exp>48/2</math_exp>")) == "good"
    assert j.judge(math_step([], "<math_exp>48*2</math_exp>")) == "bad"  # well formed, no progress
    assert j.judge(math_step(["48/2"], "<math_exp>48*0.5</math_exp>")) == "bad"  # 24 again
    assert j.judge(math_step(["48/2"], "<math_exp>48+24</math_exp>")) == "good"


def test_an_answer_is_good_only_when_it_is_the_gold_answer():
    # the rule judge calls 24 GOOD (a computed value); stopping one step short is the failure
    j = judge()
    assert j.judge(math_step(["48/2"], "<answer>24</answer>")) == "bad"
    assert j.judge(math_step(["48/2", "48+24"], "<answer>72</answer>")) == "good"
    assert j.judge(math_step([], "<search_query>clips</search_query>")) == "bad"
    assert j.judge(math_step([], "no tag at all")) == "bad"


def test_a_search_is_good_when_it_finds_a_supporting_paragraph_not_found_before():
    j = judge()
    q = "Which band is older?"
    searched = [Step(0, "", "search", "queen")]
    assert j.judge(StepContext(q, [], "<search_query>queen</search_query>", "qa")) == "good"
    assert j.judge(StepContext(q, [], "<search_query>pie</search_query>", "qa")) == "bad"
    assert j.judge(StepContext(q, searched, "<search_query>Queen</search_query>", "qa")) == "bad"
    assert j.judge(StepContext(q, searched, "<search_query>muse</search_query>", "qa")) == "good"
    assert j.judge(StepContext(q, searched, "<answer>queen</answer>", "qa")) == "good"


def test_a_question_without_a_training_reference_is_unknown():
    assert judge().judge(StepContext("What is 2+2?", [], "<answer>4</answer>", "math")) == "unknown"


def test_references_come_from_training_splits_only():
    from swirl_agents.datasets import load_questions

    refs = training_references()
    test_question = load_questions("gsm8k", "test", limit=1)[0].question
    assert test_question not in refs
    train = load_questions("gsm8k", "train", limit=1)[0]
    assert refs[train.question].answer == train.answer
    assert refs[train.question].values  # the annotations were read


def test_the_reference_judge_is_refused_on_evaluation_splits():
    refuse_eval_splits([math_traj([], "72", split="train")])
    with pytest.raises(UsageError, match="evaluation splits"):
        refuse_eval_splits([math_traj([], "72", split="test")])


def test_make_judges_knows_the_offline_judges():
    assert make_judges("reference")[0].name == "reference"
    assert make_judges("rule-strict")[0].name == "rule-strict"


def test_strict_rule_refuses_an_answer_while_question_numbers_are_unused():
    strict = StrictRuleJudge()
    q = "A shop sells 17 boxes of 23 pens and 4 loose pens. How many pens?"
    one = [Step(0, "", "math", "17*23", "17*23 -> 391")]
    both = one + [Step(1, "", "math", "391+4", "391+4 -> 395")]
    assert strict.judge(StepContext(q, one, "<answer>391</answer>", "math")) == "bad"
    assert strict.judge(StepContext(q, both, "<answer>395</answer>", "math")) == "good"


def test_strict_rule_agrees_with_rule_on_full_trajectories():
    traj = math_traj([("48/2", "24"), ("48+24", "72")], "72")
    assert StrictRuleJudge().judge_steps(step_contexts(traj)) == ["good", "good", "good"]


def budget_judge() -> ReferenceJudge:
    return ReferenceJudge(REFS, titles_for=lambda q: CORPUS.get(q.lower(), ()), budget=True)


def searched(*queries: str) -> list[Step]:
    return [Step(i, "", "search", q, observation=f"{q} -> ...") for i, q in enumerate(queries)]


def test_reference_budget_calls_a_last_step_tool_call_bad():
    q, action = "Which band is older?", "<search_query>muse</search_query>"
    for j in (judge(), budget_judge()):  # room left, or the budget not recorded
        assert j.judge(StepContext(q, searched("queen"), action, "qa", max_steps=3)) == "good"
        assert j.judge(StepContext(q, searched("queen"), action, "qa")) == "good"
    # the second of two steps: nothing could follow it, whatever it finds
    assert judge().judge(StepContext(q, searched("queen"), action, "qa", max_steps=2)) == "good"
    assert budget_judge().judge(StepContext(q, searched("queen"), action, "qa", max_steps=2)) == (
        "bad"
    )
    last = math_step(["48/2"], "<math_exp>48+24</math_exp>")
    last.max_steps = 2
    assert (judge().judge(last), budget_judge().judge(last)) == ("good", "bad")


def test_reference_budget_pays_only_for_the_searches_the_question_needs():
    q, action = "Which band is older?", "<search_query>muse</search_query>"
    # two supporting paragraphs: two searches are the plan; a third one is BAD even if it finds
    # the paragraph the first two missed (reference calls it GOOD: progress at any step)
    missed = searched("queen", "pie")
    assert judge().judge(StepContext(q, missed, action, "qa")) == "good"
    assert budget_judge().judge(StepContext(q, missed, action, "qa")) == "bad"
    assert budget_judge().judge(StepContext(q, searched("pie"), action, "qa")) == "good"
    # answering stays as reference judges it
    both = searched("queen", "muse")
    assert budget_judge().judge(StepContext(q, both, "<answer>Queen</answer>", "qa")) == "good"
    assert budget_judge().judge(StepContext(q, both, "<answer>Muse</answer>", "qa")) == "bad"


def test_step_contexts_and_swirl_rows_carry_the_recorded_budget():
    from trainer.swirl import judge_reward, state_rows

    traj = math_traj([("48/2", "24"), ("48+24", "72")], "72", split="train")
    assert [c.max_steps for c in step_contexts(traj)] == [None] * 3  # not recorded
    traj.metadata["max_steps"] = 3
    contexts = step_contexts(traj)
    assert [c.max_steps for c in contexts] == [3] * 3
    assert [c.last_step for c in contexts] == [False, False, True]
    rows = state_rows([traj])
    assert [r["max_steps"] for r in rows] == [3] * 3
    reward = judge_reward(ReferenceJudge(REFS, budget=True))
    last = rows[2]  # the third of three steps: a calculation there is BAD, the answer GOOD
    cols = {k: [last[k]] * 2 for k in ("question", "history", "task", "tools", "max_steps")}
    assert reward(["<math_exp>48+24</math_exp>", "<answer>72</answer>"], **cols) == [0.0, 1.0]
    cols["max_steps"] = [0, 0]  # unknown: the budget rule does not apply
    cols["history"] = [rows[1]["history"]] * 2  # after 48/2 only
    assert reward(["<math_exp>48+24</math_exp>", "<answer>24</answer>"], **cols) == [1.0, 0.0]


@pytest.mark.parametrize(
    "spec, flag", [("reference-budget", "budget"), ("reference-grounded", "grounded")]
)
def test_reference_variants_are_offline_and_refused_on_evaluation_splits(spec, flag):
    process, _ = make_judges(spec)
    assert isinstance(process, ReferenceJudge) and getattr(process, flag)
    assert process.name == spec
    with pytest.raises(UsageError, match=spec):
        refuse_eval_splits([math_traj([], "72", split="test")], spec)


def grounded_judge() -> ReferenceJudge:
    return ReferenceJudge(REFS, titles_for=lambda q: CORPUS.get(q.lower(), ()), grounded=True)


def results(*pairs: tuple[str, str]) -> list[Step]:
    return [Step(i, "", "search", q, observation=f"{q} -> {r}") for i, (q, r) in enumerate(pairs)]


def test_reference_grounded_calls_a_right_guess_bad():
    q = "Which singer fronted the older band?"
    refs = {q: Reference("qa", "Freddie Mercury", titles={"Queen (band)"})}
    j = ReferenceJudge(refs, titles_for=lambda s: CORPUS.get(s.lower(), ()), grounded=True)
    plain = ReferenceJudge(refs, titles_for=lambda s: CORPUS.get(s.lower(), ()))
    answer = "<answer>Freddie Mercury</answer>"
    guess = StepContext(q, [], answer, "qa")
    assert (plain.judge(guess), j.judge(guess)) == ("good", "bad")
    # the query holds the answer, the results do not: still a guess
    asked = StepContext(q, results(("Freddie Mercury", "Pie is a baked dish.")), answer, "qa")
    assert j.judge(asked) == "bad"
    seen = results(("queen", "Queen (band): lead singer Freddie Mercury."))
    assert j.judge(StepContext(q, seen, answer, "qa")) == "good"
    assert j.judge(StepContext(q, seen, "<answer>Brian May</answer>", "qa")) == "bad"


def test_reference_grounded_needs_every_paragraph_when_the_words_prove_nothing():
    # "Queen" is written in the question (a comparison): both bands' paragraphs must be in
    q, answer = "Which band is older, Queen or Muse?", "<answer>Queen</answer>"
    j = ReferenceJudge(
        {q: Reference("qa", "Queen", titles={"Queen (band)", "Muse (band)"})},
        titles_for=lambda s: CORPUS.get(s.lower(), ()),
        grounded=True,
    )
    assert j.judge(StepContext(q, results(("queen", "Queen (band): 1970.")), answer, "qa")) == "bad"
    both = results(("queen", "Queen (band): 1970."), ("muse", "Muse (band): 1994."))
    assert j.judge(StepContext(q, both, answer, "qa")) == "good"
    yes_q = "Are Queen and Muse both bands?"
    yes = ReferenceJudge(
        {yes_q: Reference("qa", "yes", titles={"Queen (band)", "Muse (band)"})},
        titles_for=lambda s: CORPUS.get(s.lower(), ()),
        grounded=True,
    )
    assert yes.judge(StepContext(yes_q, both[:1], "<answer>yes</answer>", "qa")) == "bad"
    assert yes.judge(StepContext(yes_q, both, "<answer>yes</answer>", "qa")) == "good"


def test_reference_grounded_math_answer_needs_its_value_computed():
    j = grounded_judge()
    assert judge().judge(math_step(["48/2"], "<answer>72</answer>")) == "good"  # a guess
    assert j.judge(math_step(["48/2"], "<answer>72</answer>")) == "bad"
    assert j.judge(math_step(["48/2", "48+24"], "<answer>72</answer>")) == "good"
    assert j.judge(math_step(["48/2"], "<math_exp>48+24</math_exp>")) == "good"  # as reference


def test_reference_budget_and_grounded_are_separate_judges():
    with pytest.raises(ValueError, match="pick one"):
        ReferenceJudge(budget=True, grounded=True)
