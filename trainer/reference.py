"""The ``reference`` judge: an offline stand-in for a strong LLM judge, for *training* data only.

The paper rewards SWiRL with Gemini, which can solve GSM8K and HotPotQA questions itself, so
its verdicts see progress, not only form. Offline we have no such model; what we have is each
training question's reference solution. This judge reads it:

- GSM8K: a calculator step is GOOD when its result is a value of the worked solution (the
  ``<<a*b=c>>`` annotations, or the final answer) that no earlier step computed; an answer is GOOD
  only when it equals the gold answer. Everything else is BAD.
- HotPotQA: a search is GOOD when its results hold a supporting paragraph that no earlier search
  found; an answer is GOOD when it matches the gold answer. Everything else is BAD.

``reference-budget`` (:class:`ReferenceJudge` with ``budget=True``) is aimed at what SWiRL
learned from ``reference`` in exp5: a search that finds a new supporting paragraph was GOOD at any
step, an answer only when right (about 5% of the warm model's), so the gradient moved probability
from answering to searching and 15% of the dynamic-sampling model's runs ran out of steps. It
pays for the search plan the question needs, not for searching on:

- HotPotQA: a search is GOOD only among the first N searches, N the question's supporting
  paragraphs (each search is meant to fetch one), and only when it finds one not found before;
- a tool step is BAD when it is the run's last possible step (no answer could follow; the budget
  is the trajectory's ``metadata["max_steps"]``, recorded by ``swirl generate``).

``reference-grounded`` (``grounded=True``) is aimed at what SWiRL learned from ``reference`` in
exp8: with a warm start that reads, a right answer given before the evidence was in (a guess)
was GOOD, so the gradient moved probability from searching to answering early (SWiRL searched
20% less than SFT and missed a supporting paragraph in 213 of 482 runs, SFT in 165). An answer
is GOOD only when it is right *and* grounded in what the run has seen:

- HotPotQA: the gold answer is written in an earlier search's results; when it is yes/no or is
  written in the question (a comparison: "which is older, A or B?"), every supporting paragraph
  must have been retrieved instead, since the words alone prove nothing;
- GSM8K: the gold value is the result of an earlier calculator step or a number of the question.

Searches and calculations are judged as in ``reference``.

It loads references only from training splits (GSM8K train, the HotPotQA training pool), so it
cannot read an evaluation split's gold: a question it does not know gets "unknown", and
:func:`refuse_eval_splits` stops the commands before they judge evaluation trajectories.
:class:`StrictRuleJudge` is the gold-free alternative: ``rule`` plus one check aimed at the
measured failure (answering before the question's numbers are used).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from swirl_agents.errors import UsageError
from swirl_agents.grading import grade, normalize_answer, numeric_equal, parse_number, written_in
from swirl_agents.protocol import parse_action, tool_result_text
from swirl_agents.traces.schema import Trajectory
from trainer.judges import _NUMBER, RuleProcessJudge, StepContext, Verdict

# Splits whose gold answers no judge may read (the fixed evaluation splits of ../shared/data).
EVAL_SPLITS = ("test", "eval")
_ANNOTATION = re.compile(r"<<[^=<>]*=([^<>]*)>>")


@dataclass
class Reference:
    """What the reference judge knows about one training question."""

    task: str  # math | qa
    answer: str  # the gold answer
    values: list[Decimal] = field(default_factory=list)  # math: the worked solution's results
    titles: set[str] = field(default_factory=set)  # qa: the supporting paragraphs' titles


def gsm8k_values(solution: str) -> list[Decimal]:
    """The results of a GSM8K worked solution: each ``<<a*b=c>>`` annotation's ``c``."""
    values = []
    for raw in _ANNOTATION.findall(solution):
        number = parse_number(raw)
        if number is not None:
            values.append(number)
    return values


def refuse_eval_splits(trajectories: Iterable[Trajectory], judge: str = "reference") -> None:
    """Raise a UsageError when any trajectory comes from an evaluation split."""
    bad = sorted({f"{t.dataset}/{t.split}" for t in trajectories if t.split in EVAL_SPLITS})
    if bad:
        raise UsageError(
            f"--judge {judge} reads reference solutions, so it is refused on evaluation "
            f"splits ({', '.join(bad)}); use it on training data only"
        )


@functools.cache
def training_references() -> dict[str, Reference]:
    """Every training question's reference, keyed by the question text (loaded once)."""
    from swirl_agents.datasets import load_questions

    refs: dict[str, Reference] = {}
    for q in load_questions("gsm8k", "train"):
        values = gsm8k_values(q.metadata.get("solution", ""))
        refs[q.question] = Reference("math", q.answer, values + [parse_number(q.answer)])
    try:
        pool = load_questions("hotpotqa", "train")
    except (FileNotFoundError, UsageError):  # a data root with GSM8K only
        pool = []
    for q in pool:
        refs[q.question] = Reference("qa", q.answer, titles=set(q.metadata["supporting_titles"]))
    return refs


class ReferenceJudge:
    """The offline stand-in for a strong LLM judge: reads training reference solutions.

    Args:
        references: question text -> :class:`Reference` (default: GSM8K train and the HotPotQA
            training pool, :func:`training_references`).
        titles_for: the titles a search query retrieves (default: the offline corpus tool).
        budget: ``reference-budget``: a search beyond the question's supporting paragraphs, or
            a tool call at the last possible step, is BAD (module docstring).
        grounded: ``reference-grounded``: a right answer is GOOD only when the run has seen
            its evidence (module docstring).
    """

    def __init__(
        self,
        references: dict[str, Reference] | None = None,
        titles_for=None,
        budget: bool = False,
        grounded: bool = False,
    ) -> None:
        if budget and grounded:
            raise ValueError("budget and grounded are separate judges; pick one")
        self._refs = references
        self._titles_for = titles_for
        self.budget, self.grounded = budget, grounded
        self.name = (
            "reference-budget" if budget else "reference-grounded" if grounded else "reference"
        )

    @property
    def references(self) -> dict[str, Reference]:
        if self._refs is None:
            self._refs = training_references()
        return self._refs

    def judge_steps(self, contexts: Sequence[StepContext]) -> list[Verdict]:
        return [self.judge(c) for c in contexts]

    def judge(self, context: StepContext) -> Verdict:
        ref = self.references.get(context.question)
        if ref is None:  # not a training question: we have no reference, and may not look one up
            return "unknown"
        action = parse_action(context.action)
        if action.kind == "answer":
            right = grade(action.argument, ref.answer, ref.task)
            if right and self.grounded and not self._grounded(context, ref):
                return "bad"  # right, but a guess: the evidence is not in yet
            return "good" if right else "bad"
        if self.budget and action.kind in ("math", "search") and context.last_step:
            return "bad"  # no step is left to answer: the run fails whatever this finds
        if ref.task == "math" and action.kind == "math":
            return "good" if self._new_value(action.argument, context, ref) else "bad"
        if ref.task == "qa" and action.kind == "search":
            searches = sum(h.kind == "search" for h in context.history)
            if self.budget and searches >= len(ref.titles):
                return "bad"  # the plan's searches are spent: time to answer
            return "good" if self._new_title(action.argument, context, ref) else "bad"
        return "bad"  # invalid, or the wrong tool for the task

    @staticmethod
    def _new_value(expression: str, context: StepContext, ref: Reference) -> bool:
        from swirl_agents.tools.calculator import calculate  # the calculator the agent runs

        result = calculate(expression)
        if result.startswith("Error"):
            return False
        earlier = [calculate(h.argument) for h in context.history if h.kind == "math"]
        if any(numeric_equal(result, e) for e in earlier):
            return False  # computed before: no progress
        return any(numeric_equal(result, str(v)) for v in ref.values if v is not None)

    def _grounded(self, context: StepContext, ref: Reference) -> bool:
        """Whether the run so far holds the evidence for the gold answer (module docstring)."""
        from swirl_agents.tools.calculator import calculate

        if ref.task == "math":
            seen = [calculate(h.argument) for h in context.history if h.kind == "math"]
            seen += [str(n) for n in _digits(context.question)]
            return any(numeric_equal(ref.answer, s) for s in seen)
        searches = [h for h in context.history if h.kind == "search"]
        if normalize_answer(ref.answer) in ("yes", "no") or written_in(
            ref.answer, context.question
        ):
            return ref.titles <= self._found_titles(context)
        # the results only: the observation starts with the query, which may be the guess itself
        results = [tool_result_text(h.observation or "", h.argument) for h in searches]
        return any(written_in(ref.answer, r) for r in results)

    def _new_title(self, query: str, context: StepContext, ref: Reference) -> bool:
        return bool((set(self._search(query)) & ref.titles) - self._found_titles(context))

    def _found_titles(self, context: StepContext) -> set[str]:
        """The titles the run's earlier searches retrieved."""
        return {t for h in context.history if h.kind == "search" for t in self._search(h.argument)}

    def _search(self, query: str) -> tuple[str, ...]:
        if self._titles_for is None:
            self._titles_for = corpus_titles()
        return tuple(self._titles_for(query))


def corpus_titles():
    """query -> the titles the offline corpus search returns for it (cached)."""
    from swirl_agents.tools.corpus import CorpusSearch

    corpus = CorpusSearch()

    @functools.lru_cache(maxsize=65536)
    def titles(query: str) -> tuple[str, ...]:
        return tuple(hit.title for hit in corpus.search(query))

    return titles


class StrictRuleJudge(RuleProcessJudge):
    """``rule`` plus a gold-free check aimed at stopping short: a math answer is BAD while a
    number written in the question has not yet been used in a calculator step."""

    name = "rule-strict"

    def judge(self, context: StepContext) -> Verdict:
        verdict = super().judge(context)
        if verdict != "good" or context.task != "math":
            return verdict
        if parse_action(context.action).kind != "answer":
            return verdict
        used: set[Decimal] = set()
        for h in context.history:
            if h.kind == "math":
                used |= _digits(h.argument)
        unused = [
            n
            for n in _digits(context.question)
            if n not in used and (n / 100).normalize() not in used
        ]  # "20%" may be used as 0.2
        return "bad" if unused else "good"


def _digits(text: str) -> set[Decimal]:
    """The numbers written with digits in ``text`` (not number words: those are often units)."""
    out = set()
    for match in _NUMBER.finditer(text):
        out.add(Decimal(match.group().replace(",", "")).normalize())
    return out
