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
gold answer. In a run with native tool calls the action is the turn as the model writes it, its
calls as ``<tool_call>`` blocks (``swirl_agents.models.toolcalls``), and the context carries the
bound tools' schemas.
"""

from __future__ import annotations

import json
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
from swirl_agents.grading import normalize_answer, numeric_equal, written_in
from swirl_agents.protocol import parse_action, tool_result_text
from swirl_agents.traces.schema import Step, Trajectory
from trainer.examples import step_examples, task_of

Verdict = Literal["good", "bad", "unknown"]  # process; outcome uses "yes" | "no" | "unknown"


@dataclass
class StepContext:
    """What a process judge sees: the question, the steps so far, and the action to judge."""

    question: str  # the task's question
    history: list[Step]  # the steps before the action, as recorded
    action: str  # the model turn to judge, cut after its first closed tag
    task: str = "qa"  # math | qa | "" (unknown: a captured app's run)
    tool_calls: bool = False  # a native tool-call run (the action holds <tool_call> blocks)
    tools: list[dict[str, Any]] | None = None  # its bound tools' schemas; None: not recorded
    kind: str | None = None  # the recorded step's kind; None for a freshly sampled action
    max_steps: int | None = None  # the run's step budget; None: not recorded

    @property
    def last_step(self) -> bool:
        """Whether this action is the run's last possible one (no step would be left to answer)."""
        return self.max_steps is not None and len(self.history) + 1 >= self.max_steps


def step_contexts(trajectory: Trajectory) -> list[StepContext]:
    """One context per step of ``trajectory`` (the states s_i with their actions a_i), from its
    step examples (``trainer.examples``; ``task_of`` gives the task)."""
    return [
        StepContext(
            e.question,
            e.history,
            e.completion,
            e.task,
            tool_calls=not e.tag_protocol,
            tools=e.tools,
            kind=e.step.kind,
            max_steps=e.max_steps,
        )
        for e in step_examples(trajectory)
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
    Everything else is BAD. It never says "unknown". A native tool-call turn: see
    :meth:`judge_tool_turn`.
    """

    name = "rule"

    def judge_steps(self, contexts: Sequence[StepContext]) -> list[Verdict]:
        return [self.judge(c) for c in contexts]

    def judge(self, context: StepContext) -> Verdict:
        if context.tool_calls:
            return self.judge_tool_turn(context)
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
        results = [tool_result_text(h.observation, h.argument) for h in tool_steps if h.observation]
        if context.task == "math":
            return any(numeric_equal(answer, r) for r in results)
        if not tool_steps:
            return False
        norm = normalize_answer(answer)
        if norm in ("yes", "no"):
            return True
        return written_in(answer, " ".join(results))  # the results, not the queries

    def judge_tool_turn(self, context: StepContext) -> Verdict:
        """A native tool-call turn is GOOD when
        - it holds calls, every ``<tool_call>`` block parses, names a bound tool (any name when
          the run recorded no schemas), its arguments fit that tool's JSON schema
          (:func:`args_fit`), and no call repeats an earlier call (same name and arguments) or
          another of the turn; or
        - it holds no call and a non-empty answer, which for ``math`` equals a tool result and
          for ``qa`` appears in one (yes/no after any call), as for tags; for an unknown task (a
          captured app's run) it follows at least one successful tool result, unless the run
          had no tools (an answer that used none of the tools on offer teaches no tool use).
        A recorded step the agent found invalid (a malformed call its text no longer shows) is
        BAD."""
        from swirl_agents.models.toolcalls import parse_tool_calls, tool_names

        if context.kind == "invalid":
            return "bad"
        names = None if context.tools is None else tool_names(context.tools)
        content, calls, invalid = parse_tool_calls(context.action, names)
        if invalid:
            return "bad"
        if not calls:
            return "good" if self._tool_answer_ok(content.strip(), context) else "bad"
        schemas = {
            t["function"]["name"]: t["function"].get("parameters") or {}
            for t in context.tools or ()
            if isinstance(t.get("function"), dict)
        }
        seen = {_call_key(c) for h in context.history for c in h.tool_calls or ()}
        for call in calls:
            key = _call_key(call)
            if key in seen:
                return "bad"  # an exact repeat learns nothing new
            seen.add(key)
            if context.tools is not None and not args_fit(call["args"], schemas[call["name"]]):
                return "bad"
        return "good"

    @staticmethod
    def _tool_answer_ok(answer: str, context: StepContext) -> bool:
        if not answer:
            return False
        outputs = [
            str(c["output"])
            for h in context.history
            for c in h.tool_calls or ()
            if c.get("output") is not None and c.get("status") != "error"
        ]
        if context.task == "math":
            return any(numeric_equal(answer, o) for o in outputs)
        if context.task == "qa":
            if not outputs:
                return False
            return normalize_answer(answer) in ("yes", "no") or written_in(
                answer, " ".join(outputs)
            )
        return bool(outputs) or context.tools == []


def _call_key(call: dict[str, Any]) -> tuple[str, str]:
    return call["name"], json.dumps(call.get("args") or {}, sort_keys=True, ensure_ascii=False)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def args_fit(args: dict[str, Any], schema: dict[str, Any]) -> bool:
    """Whether a call's arguments fit its tool's JSON schema, checked shallowly: every
    ``required`` key is there, no key the schema does not declare (when it lists
    ``properties``), and each value has its property's ``type`` (or one of an ``anyOf``'s)."""
    properties = schema.get("properties")
    if any(key not in args for key in schema.get("required") or ()):
        return False
    if isinstance(properties, dict):
        if any(key not in properties for key in args):
            return False
        return all(_type_fits(value, properties[key]) for key, value in args.items())
    return True


def _type_fits(value: Any, prop: Any) -> bool:
    if not isinstance(prop, dict):
        return True
    if isinstance(prop.get("anyOf"), list):
        return any(_type_fits(value, p) for p in prop["anyOf"])
    types = prop.get("type")
    if types is None:
        return True  # no type: anything goes
    for name in types if isinstance(types, list) else [types]:
        allowed = _JSON_TYPES.get(name)
        if allowed is None:
            return True  # a type we do not know: not ours to refuse
        # true/false is not a number in JSON, though bool is an int in Python
        if isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed):
            return True
    return False


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

_TOOLS_SYSTEM = """You judge one step of an agent that solves a task step by step with tools. \
A step is a short text and zero or more tool calls, each a <tool_call> block holding the tool's \
name and arguments as JSON; a step with no tool call is the final answer.
You see the tools on offer, the question, the steps taken so far with their tool results \
("name(ARGS) -> RESULT"), and the next step. Decide whether the next step is a reasonable thing \
to do at this point: its calls name offered tools with fitting arguments, it follows from the \
question and the earlier results, makes progress, does not repeat an earlier call, and an answer \
is supported by what the earlier steps found. Do not try to solve the task yourself and do not \
worry about whether the final answer will be right.
Reply with one word: GOOD or BAD."""


def _tools_text(context: StepContext) -> str:
    if not context.tool_calls or not context.tools:
        return ""
    schemas = "\n".join(json.dumps(t, ensure_ascii=False) for t in context.tools)
    return f"Tools:\n{schemas}\n\n"


def _history_text(history: Sequence[Step]) -> str:
    from swirl_agents.models.toolcalls import format_assistant_turn

    lines = []
    for i, step in enumerate(history, 1):
        text = format_assistant_turn(step.text, step.tool_calls) if step.tool_calls else step.text
        lines.append(f"Step {i}: {text}")
        if step.observation:
            lines.append(f"Result: {step.observation}")
    return "\n".join(lines) or "(no steps yet)"


class LLMProcessJudge(_LLMJudge):
    """The paper's process judge: GOOD/BAD for a step given its context, without the gold answer."""

    def judge_steps(self, contexts: Sequence[StepContext]) -> list[Verdict]:
        prompts = [
            (
                _TOOLS_SYSTEM if c.tool_calls else _PROCESS_SYSTEM,
                _tools_text(c)
                + f"Question: {c.question}\n\nSteps so far:\n{_history_text(c.history)}\n\n"
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


# the judges that need no model; the two reference ones read training gold (trainer/reference.py)
OFFLINE_JUDGES = ("rule", "rule-strict", "reference", "reference-budget", "reference-grounded")
READS_GOLD = ("reference", "reference-budget", "reference-grounded")


def make_judges(
    spec: str = "rule", *, cache_path: str | Path | None = None, votes: int = 1, **model_kw: Any
) -> tuple[ProcessJudge, OutcomeJudge]:
    """The process and outcome judges for ``--judge``: ``rule`` or a model spec.

    Args:
        spec: ``rule`` (the offline stand-in, gold-free), ``rule-strict`` (``rule`` that also
            refuses an answer while numbers of the question are unused), ``reference`` (reads
            training reference solutions: :mod:`trainer.reference`), ``reference-budget``
            (``reference`` that pays only for the searches the question needs and for no tool call
            at the last step), ``reference-grounded`` (``reference`` that calls a right answer
            BAD while its evidence is not in the run yet), or anything
            ``swirl_agents.models.load_chat_model`` takes.
        cache_path: the verdict cache (default ``cache_dir()/judge_verdicts.db``).
        votes: samples per verdict for majority voting (use a temperature > 0 with votes > 1).
        model_kw: passed to ``load_chat_model`` (``base_url``, ``temperature``, ``max_tokens``).
    """
    if spec == "rule":
        return RuleProcessJudge(), RuleOutcomeJudge()
    if spec == "rule-strict" or spec in READS_GOLD:
        from trainer.reference import ReferenceJudge, StrictRuleJudge

        process = (
            StrictRuleJudge()
            if spec == "rule-strict"
            else ReferenceJudge(
                budget=spec == "reference-budget", grounded=spec == "reference-grounded"
            )
        )
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
