"""The ``reference`` judge: an offline stand-in for a strong LLM judge, for *training* data only.

The paper rewards SWiRL with Gemini, which can solve GSM8K and HotPotQA questions itself, so
its verdicts see progress, not only form. Offline we have no such model; what we have is each
training question's reference solution. This judge reads it:

- GSM8K: a calculator step is GOOD when its result is a value of the worked solution (the
  ``<<a*b=c>>`` annotations, or the final answer) that no earlier step computed; an answer is GOOD
  only when it equals the gold answer. Everything else is BAD.
- HotPotQA: a search is GOOD when its results hold a supporting paragraph that no earlier search
  found; an answer is GOOD when it matches the gold answer. Everything else is BAD.

``reference-f1`` (:class:`ReferenceJudge` with ``graded=True``) is aimed at what exp5 measured:
the SFT model had the gold answer in its retrieved text in 80 of its 200 wrong-or-right runs
that it got wrong (53 with both supporting paragraphs found), so picking the answer out of the
evidence is the largest failure, and an exact-match reward almost never has spread there:

- a HotPotQA answer is rewarded its token F1 against the gold answer (1 for a match), so answers
  that share words with the gold one rank above those that share none;
- a tool step is BAD when it is the run's last possible step (no answer could follow; the budget
  is the trajectory's ``metadata["max_steps"]``, recorded by ``swirl generate``).

As a filter it calls a step GOOD when its reward is at least 0.5.

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
from swirl_agents.grading import f1, grade, numeric_equal, parse_number
from swirl_agents.protocol import parse_action
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
        graded: ``reference-f1``: a HotPotQA answer's reward is its token F1, and a last-step
            tool call is BAD (module docstring).
    """

    def __init__(
        self,
        references: dict[str, Reference] | None = None,
        titles_for=None,
        graded: bool = False,
    ) -> None:
        self._refs = references
        self._titles_for = titles_for
        self.graded = graded
        self.name = "reference-f1" if graded else "reference"

    @property
    def references(self) -> dict[str, Reference]:
        if self._refs is None:
            self._refs = training_references()
        return self._refs

    def judge_steps(self, contexts: Sequence[StepContext]) -> list[Verdict]:
        return [self.judge(c) for c in contexts]

    def judge(self, context: StepContext) -> Verdict:
        score = self.score(context)
        return "unknown" if score is None else "good" if score >= 0.5 else "bad"

    def score_steps(self, contexts: Sequence[StepContext]) -> list[float | None]:
        """Each action's reward in [0, 1] (None: not a training question); SWiRL uses these."""
        return [self.score(c) for c in contexts]

    def score(self, context: StepContext) -> float | None:
        ref = self.references.get(context.question)
        if ref is None:  # not a training question: we have no reference, and may not look one up
            return None
        action = parse_action(context.action)
        if action.kind == "answer":
            if grade(action.argument, ref.answer, ref.task):
                return 1.0
            return f1(action.argument, ref.answer) if self.graded and ref.task == "qa" else 0.0
        if self.graded and action.kind in ("math", "search") and context.last_step:
            return 0.0  # no step is left to answer: the run fails whatever this finds
        if ref.task == "math" and action.kind == "math":
            return float(self._new_value(action.argument, context, ref))
        if ref.task == "qa" and action.kind == "search":
            return float(self._new_title(action.argument, context, ref))
        return 0.0  # invalid, or the wrong tool for the task

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

    def _new_title(self, query: str, context: StepContext, ref: Reference) -> bool:
        found_before: set[str] = set()
        for h in context.history:
            if h.kind == "search":
                found_before |= set(self._search(h.argument))
        return bool((set(self._search(query)) & ref.titles) - found_before)

    def _search(self, query: str) -> tuple[str, ...]:
        if self._titles_for is None:
            self._titles_for = corpus_titles()
        return tuple(self._titles_for(query))


def corpus_titles():
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
