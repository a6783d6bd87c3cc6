"""Trajectories from annotations (beyond the paper): no model writes them, our tools check them.

- GSM8K: every calculator annotation ``<<48/2=24>>`` of a worked solution becomes a step (the
  solution's text before it as the reasoning, ``<math_exp>48/2</math_exp>`` as the action), the
  observation is what our calculator actually returns, and a last step gives ``<answer>``.
- HotPotQA: every supporting title becomes a ``<search_query>`` over the offline corpus; the
  observation is the corpus search tool's actual output; then ``<answer>``.

Step texts, observations and the system prompt are built with the protocol functions and the
agent's own tags and step budgets, so a converted trajectory is exactly what an agent run that
took those actions would log (source ``"annotation"``). A conversion that does not check out is
skipped and counted by reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from swirl_agents import protocol
from swirl_agents.datasets import Question, default_max_steps, load_questions, task_for
from swirl_agents.errors import UsageError
from swirl_agents.grading import normalize_answer, parse_number
from swirl_agents.protocol import MATH_TAG, SEARCH_TAG, Action
from swirl_agents.traces.schema import Step, Trajectory

if TYPE_CHECKING:
    from swirl_agents.tools.corpus import CorpusSearch

MODEL = "annotation"  # the ``model`` of converted records: no model wrote them
EVAL_SPLITS = ("test", "eval")  # never turned into training data

_ANNOTATION = re.compile(r"<<(.*?)>>")
_MAX_REASONING = 240  # characters of solution text kept as a step's reasoning


@dataclass
class BootstrapResult:
    """Converted trajectories and why the rest were skipped."""

    trajectories: list[Trajectory] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first question id

    @property
    def total(self) -> int:
        return len(self.trajectories) + sum(self.skipped.values())

    def summary(self) -> dict[str, object]:
        return {
            "total": self.total,
            "converted": len(self.trajectories),
            "skipped": dict(self.skipped.most_common()),
            "examples": self.examples,
        }


class Skip(Exception):
    """A record that does not convert; ``args[0]`` is the reason (a short key)."""


def bootstrap(
    dataset: str,
    split: str = "train",
    *,
    limit: int | None = None,
    offset: int = 0,
    corpus: CorpusSearch | None = None,
    progress: bool = True,
) -> BootstrapResult:
    """Convert the annotations of a training split (``gsm8k`` or ``hotpotqa``).

    Args:
        dataset: ``gsm8k`` (worked solutions) or ``hotpotqa`` (supporting titles).
        split: a training split; evaluation splits are refused.
        limit: the first N questions (after ``offset``).
        offset: skip the first N questions.
        corpus: the HotPotQA search corpus (default: the offline dev union corpus).
        progress: show a progress bar on stderr.
    """
    if split in EVAL_SPLITS:
        raise UsageError(f"refusing to build training data from the {split!r} split of {dataset}")
    questions = load_questions(dataset, split, limit=limit, offset=offset)
    if dataset == "gsm8k":
        return convert_gsm8k(questions, progress=progress)
    if dataset == "hotpotqa":
        return convert_hotpotqa(questions, corpus=corpus, progress=progress)
    raise UsageError(f"annotations exist only for gsm8k and hotpotqa, not {dataset!r}")


def convert_gsm8k(questions: Iterable[Question], *, progress: bool = False) -> BootstrapResult:
    """GSM8K worked solutions (``metadata["solution"]``) -> math trajectories."""
    from swirl_agents.tools.calculator import calculate

    max_steps = default_max_steps("math")
    system = protocol.system_prompt([MATH_TAG], max_steps, "math")
    result = BootstrapResult()
    for q in tqdm(list(questions), desc="gsm8k annotations", disable=not progress):
        try:
            steps = _gsm8k_steps(q, calculate, max_steps)
        except Skip as skip:
            result.skipped[skip.args[0]] += 1
            result.examples.setdefault(skip.args[0], q.id)
            continue
        result.trajectories.append(_trajectory(q, steps, system, "gsm8k-solution"))
    return result


def _gsm8k_steps(q: Question, calculate, max_steps: int) -> list[Step]:
    solution = q.metadata.get("solution") or ""
    body = solution.rsplit("####", 1)[0]
    annotations = list(_ANNOTATION.finditer(body))
    if not annotations:
        raise Skip("no_annotations")
    if len(annotations) + 1 > max_steps:
        raise Skip("too_many_steps")
    steps: list[Step] = []
    results: list[str] = []
    previous_end = 0
    for match in annotations:
        expr, sep, annotated = match.group(1).rpartition("=")
        expr = expr.strip()
        if not sep or not expr:
            raise Skip("malformed_annotation")
        observed = calculate(expr)
        if observed.startswith("Error"):
            raise Skip("calculator_error")
        if not _agrees(observed, annotated):
            raise Skip("value_mismatch")
        # The solution's words right before the annotation ("Natalia sold 48/2 =") are the thought.
        line = body[previous_end : match.start()].rsplit("\n", 1)[-1]
        reasoning = _clip(line.strip().rstrip("=$ ").strip()) or f"Next I compute {expr}."
        steps.append(_step(len(steps), Action("math", expr, reasoning), observed, "calculator"))
        results.append(observed)
        previous_end = match.end()
    if not any(_agrees(r, q.answer) for r in results):
        raise Skip("answer_not_computed")  # the final number came from mental arithmetic
    # The solution's last line, annotations removed, states the result: the final thought.
    last_line = _ANNOTATION.sub("", body).strip().rsplit("\n", 1)[-1]
    reasoning = _clip(last_line, keep="start") or f"The answer is {q.answer}."
    steps.append(_step(len(steps), Action("answer", q.answer, reasoning), None, None))
    return steps


def convert_hotpotqa(
    questions: Iterable[Question], *, corpus: CorpusSearch | None = None, progress: bool = False
) -> BootstrapResult:
    """HotPotQA supporting titles (``metadata["supporting_titles"]``) -> search trajectories."""
    from swirl_agents.tools.corpus import CorpusSearch

    corpus = corpus or CorpusSearch()
    tool = corpus.as_tool()
    max_steps = default_max_steps("qa")
    system = protocol.system_prompt([SEARCH_TAG], max_steps, "qa")
    result = BootstrapResult()
    for q in tqdm(list(questions), desc="hotpotqa annotations", disable=not progress):
        try:
            steps = _hotpotqa_steps(q, corpus, tool, max_steps)
        except Skip as skip:
            result.skipped[skip.args[0]] += 1
            result.examples.setdefault(skip.args[0], q.id)
            continue
        result.trajectories.append(_trajectory(q, steps, system, "hotpotqa-supporting-titles"))
    return result


def _hotpotqa_steps(q: Question, corpus: CorpusSearch, tool, max_steps: int) -> list[Step]:
    titles = list(dict.fromkeys(q.metadata.get("supporting_titles") or []))
    if not titles:
        raise Skip("no_supporting_titles")
    if len(titles) + 1 > max_steps:
        raise Skip("too_many_steps")
    # A title named in the question is the first hop of a bridge question: search it first.
    titles.sort(key=lambda t: normalize_answer(t) not in normalize_answer(q.question))
    steps: list[Step] = []
    for title in titles:
        if not any(hit.title == title for hit in corpus.search(title)):
            raise Skip("gold_not_retrieved")
        if not steps:
            thought = f"I need to find out about {title}."
        elif any(title in (s.observation or "") for s in steps):
            thought = f"The results mention {title}; I look it up next."
        else:
            thought = f"Next I need to find out about {title}."
        steps.append(
            _step(len(steps), Action("search", title, thought), tool.invoke(title), tool.name)
        )
    found = normalize_answer(" ".join(s.observation or "" for s in steps))
    gold = normalize_answer(q.answer)
    if gold not in ("yes", "no") and f" {gold} " not in f" {found} ":
        raise Skip("answer_not_in_results")
    reasoning = f"From what I found about {' and '.join(titles)}, I can answer."
    steps.append(_step(len(steps), Action("answer", q.answer, reasoning), None, None))
    return steps


def _step(index: int, action: Action, result: str | None, tool: str | None) -> Step:
    text = protocol.render_action(action)
    parsed = protocol.parse_action(text)
    if (parsed.kind, parsed.argument) != (action.kind, action.argument):
        raise Skip("unparseable_action")  # e.g. the argument holds a protocol tag
    observation = (
        protocol.render_tool_result(action.argument, result) if result is not None else None
    )
    return Step(index, text, action.kind, action.argument, observation, tool, model=MODEL)


def _trajectory(q: Question, steps: list[Step], system: str, kind: str) -> Trajectory:
    return Trajectory(
        question=q.question,
        steps=steps,
        answer=q.answer,
        outcome="answered",
        gold_answer=q.answer,
        correct=True,
        source="annotation",
        system_prompt=system,
        model=MODEL,
        dataset=q.dataset,
        split=q.split,
        question_id=q.id,
        metadata={"annotation": kind},
        task=task_for(q.dataset),
        id=f"annotation/{q.dataset}/{q.id}",
    )


def _agrees(observed: str, annotated: str) -> bool:
    """The calculator's result equals the annotated value, allowing the annotation's rounding
    (``<<10/3=3.33>>``) or truncation."""
    a = parse_number(annotated.strip().replace("$", ""))
    try:
        r = Decimal(observed)
    except InvalidOperation:
        return False
    if a is None:
        return False
    if abs(r - a) <= Decimal("1e-6") * max(Decimal(1), abs(a)):
        return True
    places = -a.as_tuple().exponent
    if not isinstance(places, int) or places <= 0:
        return False
    quantum = Decimal(1).scaleb(-places)
    return a in (r.quantize(quantum), r.quantize(quantum, rounding=ROUND_DOWN))


def _clip(text: str, *, keep: str = "end") -> str:
    text = " ".join(text.replace("<<", " ").replace(">>", " ").split())
    if len(text) <= _MAX_REASONING:
        return text
    return "..." + text[-_MAX_REASONING:] if keep == "end" else text[:_MAX_REASONING] + "..."
