"""Judges: is a step reasonable in its context (process), is a final answer right (outcome).

Two kinds of each:

- LLM judges (the paper's choice, e.g. Gemini): any LangChain chat model answers GOOD/BAD
  (process) or YES/NO (outcome). Replies are cached on disk, so a rerun costs nothing; optional
  majority voting over several samples; a reply we cannot read is "unknown", never GOOD.
- Rule judges: :class:`RuleProcessJudge` is the cheap **offline stand-in** for the LLM process
  judge (checks that are mechanical, not judgement); :class:`RuleOutcomeJudge` grades with
  :func:`swirl_agents.grading.grade`.

The outcome judges are thin adapters over :mod:`swirl_agents.graders`, the one outcome grader
that ``swirl eval`` and ``swirl generate`` use too (same rule, same LLM prompt and verdict cache),
so ``swirl eval`` and ``swirl filter`` give the same answer the same verdict; a trajectory's
``metadata["gold_aliases"]`` are accepted answers too.

Process judges see a :class:`StepContext` (question, earlier steps, the action) and never the
gold answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, Protocol

from swirl_agents.errors import UsageError
from swirl_agents.graders import (  # VerdictCache, parse_verdict: re-exported here
    LLMGrader,
    RuleGrader,
    VerdictCache,
    answer_of,
    parse_verdict,  # noqa: F401
)
from swirl_agents.graders import LLMJudge as _LLMJudge
from swirl_agents.grading import normalize_answer, numeric_equal
from swirl_agents.protocol import parse_action
from swirl_agents.traces.schema import Step, Trajectory
from trainer.examples import step_examples, task_of

Verdict = Literal["good", "bad", "unknown"]  # process; outcome uses "yes" | "no" | "unknown"


@dataclass
class StepContext:
    """What a process judge sees: the question, the steps so far, and the action to judge."""

    question: str  # the task's question
    history: list[Step]  # the steps before the action, as recorded
    action: str  # the model turn to judge, cut after its first closed tag
    task: str = "qa"  # math | qa


def step_contexts(trajectory: Trajectory) -> list[StepContext]:
    """One context per step of ``trajectory`` (the states s_i with their actions a_i), from its
    step examples (``trainer.examples``; ``task_of`` gives the task)."""
    return [
        StepContext(e.question, e.history, e.completion, e.task) for e in step_examples(trajectory)
    ]


class ProcessJudge(Protocol):
    """Scores actions at states: GOOD (reasonable given its context), BAD, or unknown."""

    name: str

    def judge_steps(self, contexts: Sequence[StepContext]) -> list[Verdict]: ...


class OutcomeJudge(Protocol):
    """Says whether a trajectory's final answer matches its gold answer: yes, no or unknown."""

    name: str

    def judge_outcomes(self, trajectories: Sequence[Trajectory]) -> list[str]: ...


# --- rule judges -----------------------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+")
# Constants an expression may use without finding them in the context: units and small factors.
COMMON_CONSTANTS = frozenset(
    Decimal(c)
    for c in (
        "0",
        "0.5",
        "1",
        "2",
        "3",
        "4",
        "7",
        "10",
        "12",
        "24",
        "30",
        "52",
        "60",
        "100",
        "365",
        "1000",
    )
)
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90, "hundred": 100, "thousand": 1000, "million": 1000000, "half": 2, "twice": 2,
    "double": 2, "triple": 3, "thrice": 3, "quarter": 4, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "dozen": 12, "week": 7,
}  # fmt: skip


def numbers_in(text: str) -> set[Decimal]:
    """Every number written in ``text`` (digits, "1,200", ".5", "20%" also as 0.2, number words)."""
    found: set[Decimal] = set()
    for match in _NUMBER.finditer(text):
        try:
            value = Decimal(match.group().replace(",", ""))
        except InvalidOperation:  # pragma: no cover - the pattern only matches numbers
            continue
        found.add(value.normalize())
        if text[match.end() : match.end() + 1] == "%":
            found.add((value / 100).normalize())
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in _NUMBER_WORDS:
            found.add(Decimal(_NUMBER_WORDS[word]))
    return found


class RuleProcessJudge:
    """The offline stand-in for the LLM process judge: mechanical checks, no model.

    A step is GOOD when its action parses and:
    - a calculator expression evaluates, uses only numbers from the context (the question and
      earlier tool results) or :data:`COMMON_CONSTANTS`, and repeats no earlier expression;
    - a search query repeats no earlier query;
    - an answer is supported by earlier tool results: for math it equals a computed value, for QA
      it appears in a search result (yes/no after at least one search).
    Everything else is BAD. It never says "unknown".
    """

    name = "rule"

    def judge_steps(self, contexts: Sequence[StepContext]) -> list[Verdict]:
        return [self.judge(c) for c in contexts]

    def judge(self, context: StepContext) -> Verdict:
        action = parse_action(context.action)
        if action.kind == "invalid":
            return "bad"
        earlier = [h for h in context.history if h.kind == action.kind]
        observations = [h.observation for h in context.history if h.observation]
        if action.kind == "math":
            # a repeated computation learns nothing new: the loop a weak policy falls into
            seen = {"".join((h.argument or "").split()) for h in earlier}
            if "".join(action.argument.split()) in seen:
                return "bad"
            return (
                "good" if self._math_ok(action.argument, context.question, observations) else "bad"
            )
        if action.kind == "search":
            seen = {normalize_answer(h.argument) for h in earlier}
            return "bad" if normalize_answer(action.argument) in seen else "good"
        return "good" if self._answer_ok(action.argument, context) else "bad"

    @staticmethod
    def _math_ok(expression: str, question: str, observations: list[str]) -> bool:
        from swirl_agents.tools.calculator import calculate  # the same calculator the agent runs

        if calculate(expression).startswith("Error"):
            return False
        allowed = numbers_in(question) | COMMON_CONSTANTS
        for observation in observations:
            allowed |= numbers_in(observation)
        return all(n in allowed for n in numbers_in(expression))

    @staticmethod
    def _answer_ok(answer: str, context: StepContext) -> bool:
        tool_steps = [h for h in context.history if h.kind in ("math", "search")]
        if context.task == "math":
            results = [h.observation.rsplit("->", 1)[-1] for h in tool_steps if h.observation]
            return any(numeric_equal(answer, r) for r in results)
        if not tool_steps:
            return False
        norm = normalize_answer(answer)
        if norm in ("yes", "no"):
            return True
        results = [h.observation.split(" -> ", 1)[-1] for h in tool_steps if h.observation]
        text = normalize_answer(" ".join(results))  # the results, not the queries
        return bool(norm) and f" {norm} " in f" {text} "


_WORDS = {True: "yes", False: "no", None: "unknown"}


class RuleOutcomeJudge:
    """Rule graders against the gold answer or an alias: numeric equality for math, normalised
    EM for QA (``swirl_agents.graders.RuleGrader``)."""

    name = "rule"

    def judge_outcomes(self, trajectories: Sequence[Trajectory]) -> list[str]:
        verdicts = RuleGrader().grade_answers([answer_of(t, task_of(t)) for t in trajectories])
        return [_WORDS[v] for v in verdicts]


# --- LLM judges ------------------------------------------------------------------------------


_PROCESS_SYSTEM = """You judge one step of an agent that solves a problem step by step with tools \
(a calculator for <math_exp>, a search engine for <search_query>) and ends with <answer>.
You see the question, the steps taken so far with their tool results ("QUERY -> RESULT"), and the \
next step. Decide whether the next step is a reasonable thing to do at this point: it follows from \
the question and the earlier results, makes progress, does not repeat an earlier query, holds \
exactly one action, and an answer is supported by what the earlier steps found. Do not try to \
solve the problem yourself and do not worry about whether the final answer will be right.
Reply with one word: GOOD or BAD."""


def _history_text(history: Sequence[Step]) -> str:
    lines = []
    for i, step in enumerate(history, 1):
        lines.append(f"Step {i}: {step.text}")
        if step.observation:
            lines.append(f"Result: {step.observation}")
    return "\n".join(lines) or "(no steps yet)"


class LLMProcessJudge(_LLMJudge):
    """The paper's process judge: GOOD/BAD for a step given its context, without the gold answer."""

    def judge_steps(self, contexts: Sequence[StepContext]) -> list[Verdict]:
        prompts = [
            (
                _PROCESS_SYSTEM,
                f"Question: {c.question}\n\nSteps so far:\n{_history_text(c.history)}\n\n"
                f"Next step: {c.action}\n\nIs the next step GOOD or BAD?",
            )
            for c in contexts
        ]
        return self._ask("process", prompts, ("good", "bad"))  # type: ignore[return-value]


class LLMOutcomeJudge(LLMGrader):
    """The paper's outcome judge: YES/NO, the final answer against the gold answer (and aliases);
    ``swirl_agents.graders.LLMGrader`` over trajectories."""

    def judge_outcomes(self, trajectories: Sequence[Trajectory]) -> list[str]:
        verdicts = self.grade_answers([answer_of(t, task_of(t)) for t in trajectories])
        return [_WORDS[v] for v in verdicts]


def make_judges(
    spec: str = "rule", *, cache_path: str | Path | None = None, votes: int = 1, **model_kw: Any
) -> tuple[ProcessJudge, OutcomeJudge]:
    """The process and outcome judges for ``--judge``: ``rule`` or a model spec.

    Args:
        spec: ``rule`` (the offline stand-in, gold-free), ``rule-strict`` (``rule`` that also
            refuses an answer while numbers of the question are unused), ``reference`` (reads
            training reference solutions: :mod:`trainer.reference`), or anything
            ``swirl_agents.models.load_chat_model`` takes.
        cache_path: the verdict cache (default ``cache_dir()/judge_verdicts.db``).
        votes: samples per verdict for majority voting (use a temperature > 0 with votes > 1).
        model_kw: passed to ``load_chat_model`` (``base_url``, ``temperature``, ``max_tokens``).
    """
    if spec == "rule":
        return RuleProcessJudge(), RuleOutcomeJudge()
    if spec in ("reference", "rule-strict"):
        from trainer.reference import ReferenceJudge, StrictRuleJudge

        process = ReferenceJudge() if spec == "reference" else StrictRuleJudge()
        return process, RuleOutcomeJudge()
    if votes < 1:
        raise UsageError(f"votes must be at least 1, got {votes}")
    from swirl_agents.graders import default_verdict_cache, load_grader_model

    model = load_grader_model(spec, **model_kw)
    cache = VerdictCache(cache_path) if cache_path else default_verdict_cache()
    return (
        LLMProcessJudge(model, cache=cache, votes=votes),
        LLMOutcomeJudge(model, cache=cache, votes=votes),
    )
