"""Evaluate an agent on a dataset split: run it concurrently, grade every answer, store every run.

``evaluate(model, questions)`` runs the SWiRL agent on each question through the run loop that
``swirl generate`` uses too (:func:`swirl_agents.runs.run_agent`: concurrent runs, a local model
batching them into one ``generate``, one retry policy), grades the answers with the outcome grader
that ``swirl filter`` uses too (:mod:`swirl_agents.graders`: the rule grader or an LLM grader,
against the gold answer or any of its ``aliases``), stores each run as a trace (source
``"eval"``), and returns per-question results plus a summary:

- ``n`` counts every question, failed runs included; a run with no answer is wrong. An endpoint
  that can serve no run (connection refused, unknown model, refused credentials) raises
  ``swirl_agents.errors.EndpointError`` instead of scoring zero.
- ``accuracy_ci95`` is the 95% Wilson score interval.
- ``valid_action_rate`` is per model call (every step), over all runs.
- for QA, ``f1`` (token F1 against the best accepted answer) and ``recall_at_5``: the share of gold supporting titles found in the
  top-5 corpus hits of the run's search queries (union over queries), averaged over questions.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.types import RetryPolicy

from swirl_agents import grading
from swirl_agents.agent import model_name
from swirl_agents.graders import (
    Answer,
    GraderFn,
    LLMGrader,
    OutcomeGrader,
    RuleGrader,
    answer_of,
    grade_one,
    load_grader,
)
from swirl_agents.runs import RunItem, run_agent, trace_fields
from swirl_agents.traces.schema import Trajectory

if TYPE_CHECKING:
    from swirl_agents.datasets import Question

__all__ = [
    "EvalReport",
    "Grader",
    "LLMGrader",
    "QuestionResult",
    "evaluate",
    "evaluate_dataset",
    "rule_grader",
    "summarize",
    "wilson_interval",
]

# A grader: an OutcomeGrader (``swirl_agents.graders``: rule or LLM), or a function of
# (question, prediction, gold) that says correct (True), wrong (False) or unknown (None).
Grader = OutcomeGrader | GraderFn
# Titles of the top-k corpus hits for a query (for recall@5 on HotPotQA).
TitleSearch = Callable[[str], Sequence[str]]

RECALL_K = 5


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson score interval for a binomial proportion ((0, 1) when n is 0)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rule_grader(task: str | None = None) -> OutcomeGrader:
    """The rule grader (numeric equivalence for math, normalised exact match for QA, never
    unknown); the task comes with each answer."""
    return RuleGrader()


@dataclass
class QuestionResult:
    """The outcome of one evaluated question."""

    question_id: str | None  # id within the dataset
    question: str
    gold: str  # the reference answer
    answer: str | None  # the agent's final answer (None: no answer or a failed run)
    correct: bool  # graded correct (unknown verdicts count as wrong)
    verdict: str  # correct | wrong | unknown (the grader could not tell)
    outcome: str  # answered | no_answer | failed
    steps: int  # model calls made
    valid_steps: int  # model calls that produced a valid action
    actions: dict[str, int]  # steps by action kind (search, math, answer, invalid)
    f1: float | None = None  # token F1 (QA only)
    recall_at_5: float | None = None  # gold titles found in the top-5 hits of the searches (QA)
    error: str | None = None  # why the run failed
    trace_id: str = ""  # the id of the stored trajectory


@dataclass
class EvalReport:
    """Per-question results and the summary figures of one evaluation."""

    summary: dict[str, Any]
    results: list[QuestionResult] = field(default_factory=list)
    trajectories: list[Trajectory] = field(default_factory=list)


def summarize(results: Sequence[QuestionResult], *, task: str, **fields: Any) -> dict[str, Any]:
    """The summary figures of a set of results; ``fields`` (dataset, split, model ...) go first."""
    n = len(results)
    correct = sum(r.correct for r in results)
    calls = sum(r.steps for r in results)
    finished = [r for r in results if r.outcome != "failed"]
    actions: Counter[str] = Counter()
    for r in results:
        actions.update(r.actions)
    low, high = wilson_interval(correct, n)
    summary: dict[str, Any] = {
        **fields,
        "task": task,
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else 0.0,
        "accuracy_ci95": [low, high],
        "valid_action_rate": sum(r.valid_steps for r in results) / calls if calls else 0.0,
        "mean_steps": sum(r.steps for r in finished) / len(finished) if finished else 0.0,
        "answered_rate": sum(r.outcome == "answered" for r in results) / n if n else 0.0,
        "n_failed": n - len(finished),
        "n_unknown": sum(r.verdict == "unknown" for r in results),
        "actions": dict(sorted(actions.items())),
    }
    if task == "qa":
        summary["f1"] = sum(r.f1 or 0.0 for r in results) / n if n else 0.0
        recalls = [r.recall_at_5 for r in results if r.recall_at_5 is not None]
        summary["recall_at_5"] = sum(recalls) / len(recalls) if recalls else None
    return summary


def evaluate(
    model: BaseChatModel,
    questions: Sequence[Question],
    *,
    tools: Sequence[BaseTool],
    task: str,
    max_steps: int,
    concurrency: int = 8,
    store: Any = None,
    grader: Grader | None = None,
    title_search: TitleSearch | None = None,
    model_label: str | None = None,
    retry: RetryPolicy | None = None,
    progress: bool = True,
) -> EvalReport:
    """Run the agent on every question, grade, store each run as a trace, and summarise.

    Args:
        model: the chat model under evaluation.
        questions: ``swirl_agents.datasets.Question`` records (id, question, answer, dataset, split,
            metadata; HotPotQA's ``metadata["supporting_titles"]`` feeds recall@5, and
            ``metadata["aliases"]`` lists other accepted answers).
        tools: the agent's tools.
        task: ``"math"`` or ``"qa"``: picks the prompt hints, the rule grader and the QA metrics.
        max_steps: the agent's step budget (model calls per question).
        concurrency: how many runs are in flight at once (a local model batches them).
        store: a trace store (``add(trajectory)``); every run is stored with source ``"eval"``.
        grader: an outcome grader (``swirl_agents.graders``) or a function
            ``(question, prediction, gold) -> bool | None``; default: the rule grader.
        title_search: ``query -> titles of the top-5 hits``, for recall@5 (QA); None skips it.
        model_label: the model name reported in the summary (default: the model's own name).
        retry: the retry policy for model calls (default: ``swirl_agents.runs.retry_policy()``).
        progress: show a tqdm progress bar on stderr.
    """
    grader = grader or RuleGrader()
    label = model_label or model_name(model)
    eval_id = uuid.uuid4().hex[:12]
    meta = {"eval_id": eval_id, "eval_model": label}
    items = [
        RunItem(q.question, trace_fields(q, uuid.uuid4().hex, metadata=meta)) for q in questions
    ]
    results: list[QuestionResult | None] = [None] * len(questions)
    trajectories: list[Trajectory | None] = [None] * len(questions)
    tally = {"done": 0, "correct": 0}

    def finish(i: int, traj: Trajectory) -> dict[str, str]:
        result = _grade(traj, questions[i], task, grader, title_search)
        traj.correct = result.correct
        if store is not None:
            store.add(traj)
        results[i], trajectories[i] = result, traj
        tally["done"] += 1
        tally["correct"] += result.correct
        return {"acc": f"{tally['correct'] / tally['done']:.2f}"}

    started = time.time()
    run_agent(
        model,
        items,
        finish,
        tools=tools,
        task=task,
        max_steps=max_steps,
        source="eval",
        concurrency=concurrency,
        retry=retry,
        model_label=label,
        desc=f"eval {label}",
        progress=progress,
    )
    done = [r for r in results if r is not None]
    summary = summarize(
        done,
        task=task,
        dataset=questions[0].dataset if questions else None,
        split=questions[0].split if questions else None,
        model=label,
    )
    summary.update(max_steps=max_steps, concurrency=concurrency, wall_s=time.time() - started)
    summary["eval_id"] = eval_id
    return EvalReport(summary, done, [t for t in trajectories if t is not None])


def _grade(
    traj: Trajectory, q: Question, task: str, grader: Grader, title_search: TitleSearch | None
) -> QuestionResult:
    actions = Counter(s.kind for s in traj.steps)
    answer = answer_of(traj, task)
    if traj.outcome != "answered":
        answer = Answer(answer.question, None, answer.gold, answer.aliases, task)
    verdict = grade_one(grader, answer)
    result = QuestionResult(
        question_id=q.id,
        question=q.question,
        gold=q.answer,
        answer=traj.answer,
        correct=verdict is True,
        verdict={True: "correct", False: "wrong", None: "unknown"}[verdict],
        outcome=traj.outcome,
        steps=len(traj.steps),
        valid_steps=len(traj.steps) - actions.get("invalid", 0),
        actions=dict(actions),
        error=traj.error,
        trace_id=traj.id,
    )
    if task == "qa":
        result.f1 = grading.best_f1(answer.prediction, answer.gold, answer.aliases)
        gold_titles = set((q.metadata or {}).get("supporting_titles") or [])
        if title_search is not None and gold_titles:
            found: set[str] = set()
            for step in traj.steps:
                if step.kind == "search":
                    found.update(title_search(step.argument))
            result.recall_at_5 = len(gold_titles & found) / len(gold_titles)
    return result


def evaluate_dataset(
    dataset: str,
    split: str,
    *,
    model: BaseChatModel | str | None = None,
    base_url: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    max_steps: int | None = None,
    concurrency: int = 8,
    store: Any = None,
    grader: str | BaseChatModel | OutcomeGrader = "rule",
    corpus_path: str | None = None,
    progress: bool = True,
) -> EvalReport:
    """Evaluate on a named split (``gsm8k``/``hotpotqa``/a JSONL path) with the task's default tools.

    Args:
        dataset: ``gsm8k``, ``hotpotqa`` or a path to a JSONL file with question/answer.
        split: ``train``/``test`` (GSM8K), ``train``/``eval`` (HotPotQA).
        model: a chat model, or a spec for ``load_chat_model`` (None: the embedded default).
        base_url: an OpenAI-compatible server URL for an ``openai:NAME`` spec.
        limit: evaluate the first N questions in file order (after ``offset``).
        offset: skip the first N questions.
        max_steps: the step budget (default: the task's, math 10, qa 5).
        concurrency: runs in flight at once.
        store: a trace store for the runs (source ``"eval"``).
        grader: ``"rule"``, an outcome grader, or a chat model / model spec for the LLM grader
            (``swirl_agents.graders.load_grader``: the verdict cache that ``swirl filter`` shares).
        corpus_path: the JSONL corpus (``{"id", "title", "text"}``) for the search tool and
            recall@5 (default: the HotPotQA union corpus).
        progress: show progress bars on stderr.
    """
    from swirl_agents.datasets import default_max_steps, default_tools, load_questions, task_for
    from swirl_agents.models import load_chat_model
    from swirl_agents.tools import load_tools

    questions = load_questions(dataset, split, limit=limit, offset=offset)
    if not questions:
        raise ValueError(f"no questions in {dataset}/{split}")
    task = task_for(dataset)
    names = list(default_tools(task))
    tools: list[BaseTool] = []
    title_search: TitleSearch | None = None
    if "corpus" in names:  # one index for the tool and for recall@5
        from swirl_agents.tools.corpus import CorpusSearch

        corpus = CorpusSearch(corpus_path)
        tools.append(corpus.as_tool())
        title_search = lambda query: [hit.title for hit in corpus.search(query, k=RECALL_K)]  # noqa: E731
        names.remove("corpus")
    tools.extend(load_tools(names, corpus_path=corpus_path))
    label = model if isinstance(model, str) else None
    if not isinstance(model, BaseChatModel):
        label = model or "smollm2"
        model = load_chat_model(model, base_url=base_url)
    if not hasattr(grader, "grade_answers"):
        grader = load_grader(grader, base_url=base_url)  # type: ignore[arg-type]
    return evaluate(
        model,
        questions,
        tools=tools,
        task=task,
        max_steps=max_steps or default_max_steps(task),
        concurrency=concurrency,
        store=store,
        grader=grader,  # type: ignore[arg-type]
        title_search=title_search,
        model_label=label,
        progress=progress,
    )
