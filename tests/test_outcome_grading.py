"""One outcome grader: answer aliases, and `swirl eval` and `swirl filter` agreeing on every answer."""

from __future__ import annotations

import pytest
from fakes import scripted
from fakes import toy_question as Q
from langchain_core.tools import tool

from swirl_agents.evaluate import evaluate
from swirl_agents.graders import (
    ALIASES_KEY,
    Answer,
    LLMGrader,
    RuleGrader,
    VerdictCache,
    answer_of,
    load_grader,
)
from swirl_agents.grading import accepted_answers, aliases_of, best_f1, grade, written_in
from swirl_agents.traces.schema import Trajectory
from trainer.filters import filter_trajectories
from trainer.judges import LLMOutcomeJudge, RuleOutcomeJudge


@tool
def search(query: str) -> str:
    """Search a toy corpus."""
    return "Paris is the capital of France, the City of Light."


search.metadata = {"swirl_tag": "search_query"}


@tool
def calculator(expression: str) -> str:
    """Evaluate arithmetic."""
    return str(eval(expression, {"__builtins__": {}}))  # test-only, trusted input


calculator.metadata = {"swirl_tag": "math_exp"}


class ListStore:
    def __init__(self) -> None:
        self.items: list[Trajectory] = []

    def add(self, traj: Trajectory) -> None:
        self.items.append(traj)


def test_aliases_are_accepted_answers():
    assert aliases_of({"aliases": ["NYC", "New York City"], "answer_aliases": ["NYC", 3]}) == [
        "NYC",
        "New York City",
        "3",
    ]
    assert aliases_of({"aliases": "Big Apple"}) == ["Big Apple"]
    assert aliases_of({"aliases": {"not": "a list"}}) == [] and aliases_of(None) == []
    assert accepted_answers("New York", ["NYC", "New York"]) == ["New York", "NYC"]
    assert grade("nyc", "New York", "qa", ["NYC"]) and not grade(
        "Boston", "New York", "qa", ["NYC"]
    )
    assert grade("6", "4", "math", ["6"]) and not grade(None, "4", "math", ["4"])
    assert best_f1("new york city", "NYC", ["New York"]) == pytest.approx(0.8)
    assert best_f1(None, "NYC") == 0.0


def test_eval_grades_against_aliases_and_stores_them():
    def script(messages) -> str:
        if len(messages) == 2:
            return "<search_query>capital of France</search_query>"
        return "<answer>the City of Light</answer>"

    store = ListStore()
    q = Q("x", "Capital of France?", "Paris", metadata={"aliases": ["City of Light"]})
    report = evaluate(
        scripted(script), [q], tools=[search], task="qa", max_steps=3, store=store, progress=False
    )
    r = report.results[0]
    assert r.correct and r.f1 == 1.0
    assert store.items[0].metadata[ALIASES_KEY] == ["City of Light"]
    assert RuleOutcomeJudge().judge_outcomes(store.items) == ["yes"]  # filter agrees


# Questions and the answer the scripted agent gives to each (None: it never answers).
QA_CASES = {
    "q-exact": ("Capital of France?", "Paris", [], "Paris"),
    "q-alias": ("Capital of France, by nickname?", "Paris", ["City of Light"], "the City of Light"),
    "q-wrong": ("Capital of France, really?", "Paris", [], "Lyon"),
    "q-vague": ("Capital of France, vaguely?", "Paris", [], "the French capital"),
    "q-odd": ("Capital of France, oddly?", "Paris", [], "Paris, France"),
    "q-none": ("Capital of France, silently?", "Paris", [], None),
}
MATH_CASES = {
    "m-exact": ("What is 2+2?", "4", [], "4"),
    "m-dollars": ("What is 2+2 dollars?", "4", [], "$4.00"),
    "m-wrong": ("What is 2+3?", "5", [], "6"),
    "m-alias": ("What is 2+2 or 2*3?", "4", ["6"], "6"),
}


def _agent(cases):
    by_question = {question: answer for question, _, _, answer in cases.values()}

    def script(messages) -> str:
        answer = by_question[messages[1].text.removeprefix("Question: ").split("\n")[0]]
        if answer is None:
            return "I keep thinking."  # invalid: no answer within the budget
        if len(messages) == 2:
            return (
                "<search_query>capital</search_query>"
                if "France" in messages[1].text
                else ("<math_exp>2+2</math_exp>")
            )
        return f"<answer>{answer}</answer>"

    return scripted(script)


def _questions(cases):
    return [
        Q(qid, question, gold, metadata={"aliases": aliases} if aliases else {})
        for qid, (question, gold, aliases, _) in cases.items()
    ]


def _judge_model():
    """A scripted LLM judge: YES for answers that mean Paris or 4, an unreadable reply for one."""

    def reply(messages) -> str:
        prompt = messages[1].text
        answer = prompt.split("System's answer: ", 1)[1].split("\n", 1)[0]
        if answer == "Paris, France":
            return "Hmm, YES or NO, hard to say."  # both words: unknown
        right = {"Paris", "the City of Light", "the French capital", "4", "$4.00"}
        return (
            "YES" if answer in right or (answer == "6" and "Also accepted: 6" in prompt) else "NO"
        )

    return scripted(reply)


def _eval_and_filter(cases, task, tools, eval_grader, filter_judge):
    store = ListStore()
    report = evaluate(
        _agent(cases),
        _questions(cases),
        tools=tools,
        task=task,
        max_steps=3,
        store=store,
        grader=eval_grader,
        progress=False,
    )
    assert report.summary["n_failed"] == 0, [r.error for r in report.results]
    eval_says = {
        r.question_id: {"correct": "yes", "wrong": "no", "unknown": "unknown"}[r.verdict]
        for r in report.results
    }
    filter_says = dict(
        zip(
            [t.question_id for t in store.items],
            filter_judge.judge_outcomes(store.items),
            strict=True,
        )
    )
    kept = filter_trajectories(store.items, "outcome", outcome_judge=filter_judge).kept
    return eval_says, filter_says, {t.question_id for t in kept}


@pytest.mark.parametrize(
    ("cases", "task", "tools"), [(QA_CASES, "qa", [search]), (MATH_CASES, "math", [calculator])]
)
def test_eval_and_filter_agree_with_the_rule_grader(cases, task, tools):
    eval_says, filter_says, kept = _eval_and_filter(cases, task, tools, None, RuleOutcomeJudge())
    assert eval_says == filter_says
    assert kept == {qid for qid, v in eval_says.items() if v == "yes"}
    expected = {"q-exact", "q-alias"} if task == "qa" else {"m-exact", "m-dollars", "m-alias"}
    assert kept == expected


@pytest.mark.parametrize(
    ("cases", "task", "tools"), [(QA_CASES, "qa", [search]), (MATH_CASES, "math", [calculator])]
)
def test_eval_and_filter_agree_with_a_scripted_llm_grader(cases, task, tools):
    eval_model, filter_model = _judge_model(), _judge_model()
    eval_says, filter_says, kept = _eval_and_filter(
        cases, task, tools, LLMGrader(eval_model), LLMOutcomeJudge(filter_model, max_concurrency=1)
    )
    assert eval_says == filter_says
    assert kept == {qid for qid, v in eval_says.items() if v == "yes"}
    if task == "qa":
        assert eval_says == {
            "q-exact": "yes",
            "q-alias": "yes",
            "q-wrong": "no",
            "q-vague": "yes",
            "q-odd": "unknown",
            "q-none": "no",  # no answer: wrong without asking
        }
    # Both asked the same prompts (the filter asks them twice: judge_outcomes and the filter).
    eval_prompts = sorted(c["messages"][1].text for c in eval_model.calls)
    filter_prompts = sorted(c["messages"][1].text for c in filter_model.calls)
    assert filter_prompts == sorted(eval_prompts * 2)


def test_eval_and_filter_share_the_verdict_cache(tmp_path):
    cache = tmp_path / "verdicts.db"
    store = ListStore()
    report = evaluate(
        _agent(QA_CASES),
        _questions(QA_CASES),
        tools=[search],
        task="qa",
        max_steps=3,
        store=store,
        grader=load_grader(_judge_model(), cache=VerdictCache(cache)),
        progress=False,
    )
    # The filter's judge would say NO to everything, but every verdict is already cached.
    judge = LLMOutcomeJudge(scripted(["NO"]), cache=VerdictCache(cache))
    verdicts = judge.judge_outcomes(store.items)
    assert judge.calls == 0
    by_id = {r.question_id: r.verdict for r in report.results}
    assert [by_id[t.question_id] for t in store.items] == [
        {"yes": "correct", "no": "wrong", "unknown": "unknown"}[v] for v in verdicts
    ]


def test_graders_on_answers():
    answers = [
        Answer("q", "Paris", "Paris"),
        Answer("q", "NYC", "New York", ("NYC",)),
        Answer("q", None, "Paris"),
        Answer("q", "4", "4.0", task="math"),
        Answer("q", "Paris", None),
    ]
    assert RuleGrader().grade_answers(answers) == [True, True, False, True, False]
    model = scripted(["YES"])
    assert LLMGrader(model).grade_answers(answers) == [True, True, False, True, False]
    assert len(model.calls) == 3  # no call without an answer or without a reference
    assert "Also accepted: NYC" in model.calls[1]["messages"][1].text
    traj = Trajectory(
        question="q", answer="NYC", gold_answer="New York", metadata={ALIASES_KEY: ["NYC"]}
    )
    assert answer_of(traj, "qa") == Answer("q", "NYC", "New York", ("NYC",), "qa")


def test_written_in_matches_whole_normalised_words():
    text = "Queen (band): Queen formed in 1970, with Freddie Mercury."
    assert written_in("the Queen", text) and written_in("freddie mercury", text)
    assert not written_in("Que", text)  # a word's prefix is not the word
    assert not written_in("Mercury Freddie", text)
    assert not written_in("", text) and not written_in("the", text)  # nothing left to find
