"""Synthetic trajectories, the paper's stage 1: K runs of the agent per question, logged to a store.

``generate(model, questions, store=...)`` runs the SWiRL agent graph for every (question, sample)
pair not yet in the store, through the run loop that ``swirl eval`` uses too
(:func:`swirl_agents.runs.run_agent`: ``concurrency`` runs at a time, a local model batching the
concurrent calls into one ``generate``). Each run is graded with the rule grader
(:mod:`swirl_agents.graders`, the one ``swirl eval`` and ``swirl filter`` use: the gold answer or
any alias) and written to the store under a deterministic id, so a killed job rerun with the same
arguments skips what is done and never writes a duplicate. Model calls retry with exponential
backoff on rate limits and server errors; a run that still fails is recorded with outcome
``"failed"`` and its error, and the job goes on. An endpoint that can serve no run (connection
refused, unknown model, refused credentials: ``swirl_agents.errors.EndpointError``) stops the job
instead, recording nothing for that run, so that a rerun against the right endpoint resumes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.types import RetryPolicy

from swirl_agents.agent import model_name
from swirl_agents.datasets import Question
from swirl_agents.graders import RuleGrader, answer_of
from swirl_agents.runs import RunItem, is_retryable, retry_policy, run_agent, trace_fields
from swirl_agents.traces.schema import Trajectory
from swirl_agents.traces.store import TraceStore

__all__ = ["GenerateReport", "generate", "is_retryable", "record_id", "retry_policy"]


def record_id(model: str, dataset: str, split: str, question_id: str, sample: int) -> str:
    """The id of one (question, sample) run: readable, and distinct per model and split."""
    digest = hashlib.sha1(f"{model}|{dataset}|{split}".encode()).hexdigest()[:8]
    return f"{question_id}/s{sample}/{digest}"


@dataclass
class GenerateReport:
    """What one ``generate`` call did."""

    planned: int  # (question, sample) pairs asked for
    skipped: int  # already in the store (resumed)
    done: int  # runs finished by this call, failed ones included
    answered: int  # runs that gave an answer
    correct: int  # answers graded correct
    failed: int  # runs that failed after retries
    wall_s: float  # seconds spent running
    model: str  # the model's name

    @property
    def runs_per_s(self) -> float:
        return self.done / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {**asdict(self), "runs_per_s": round(self.runs_per_s, 3)}


def generate(
    model: BaseChatModel,
    questions: Sequence[Question],
    *,
    store: TraceStore,
    tools: Sequence[BaseTool],
    task: str,
    max_steps: int,
    samples: int = 5,
    concurrency: int = 8,
    model_label: str | None = None,
    retry: RetryPolicy | None = None,
    retry_failed: bool = False,
    metadata: dict[str, Any] | None = None,
    progress: bool = True,
) -> GenerateReport:
    """Run the agent ``samples`` times on each question and log every run to ``store``.

    Args:
        model: the chat model that writes the steps (sampling settings are the model's own).
        questions: the questions (``swirl_agents.datasets.load_questions``).
        store: where runs are written (source ``"generated"``); it also says what is done.
        tools: the agent's tools.
        task: ``"math"`` or ``"qa"``: the prompt hints and the rule grader.
        max_steps: the agent's step budget.
        samples: runs per question (the paper: 5).
        concurrency: runs in flight at once.
        model_label: the model name in records and ids (default: the model's own name).
        retry: the retry policy for model calls (default: ``retry_policy()``).
        retry_failed: run again the pairs whose stored run failed (their records are replaced).
        metadata: extra fields for every record's ``metadata`` (e.g. the sampling temperature).
        progress: show a progress bar with throughput on stderr.
    """
    if samples < 1 or concurrency < 1:
        raise ValueError(
            f"samples and concurrency must be at least 1, got {samples} and {concurrency}"
        )
    label = model_label or model_name(model)
    pairs = {
        record_id(label, q.dataset, q.split, q.id, k): (q, k)
        for q in questions
        for k in range(samples)
    }
    plan = [(q, k, pid) for pid, (q, k) in pairs.items()]  # a question listed twice runs once
    done_ids = store.existing(pid for _, _, pid in plan)
    if retry_failed and done_ids:
        failed = [t.id for t in store.iter(outcome="failed") if t.id in done_ids]
        store.delete(failed)
        done_ids -= set(failed)
    todo = [(q, k, pid) for q, k, pid in plan if pid not in done_ids]

    # the budget is recorded: a judge that knows it can tell a last-step tool call (no answer can
    # follow) from one with room left (trainer/reference.py, ``reference-budget``)
    extra = {"generator": label, "max_steps": max_steps, **(metadata or {})}
    items = [
        RunItem(q.question, trace_fields(q, pid, sample=k, metadata=extra)) for q, k, pid in todo
    ]
    report = GenerateReport(len(plan), len(plan) - len(todo), 0, 0, 0, 0, 0.0, label)
    grader = RuleGrader()

    def finish(i: int, traj: Trajectory) -> dict[str, Any]:
        failed = traj.outcome == "failed"
        if traj.gold_answer is not None:
            traj.correct = grader.grade_answers([answer_of(traj, task)])[0]
        elif failed:
            traj.correct = False
        store.add(traj)
        report.done += 1
        report.failed += failed
        report.answered += traj.outcome == "answered"
        report.correct += bool(traj.correct)
        return {"acc": f"{report.correct / report.done:.2f}", "failed": report.failed}

    started = time.time()
    run_agent(
        model,
        items,
        finish,
        tools=tools,
        task=task,
        max_steps=max_steps,
        source="generated",
        concurrency=concurrency,
        retry=retry,
        model_label=label,
        run_name="swirl_generate",
        desc=f"generate {label}",
        unit="run",
        progress=progress,
    )
    report.wall_s = time.time() - started
    return report
