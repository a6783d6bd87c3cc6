"""Synthetic trajectories, the paper's stage 1: K runs of the agent per question, logged to a store.

``generate(model, questions, store=...)`` runs the SWiRL agent graph for every (question, sample)
pair not yet in the store, ``max_concurrency`` runs at a time (``graph.batch_as_completed``; a
local model batches the concurrent calls into one ``generate``). Each run is graded with the rule
grader and written by the graph itself (``trace_store``) under a deterministic id, so a killed job
rerun with the same arguments skips what is done and never writes a duplicate. Model calls retry
with exponential backoff on rate limits and server errors; a run that still fails is recorded with
outcome ``"failed"`` and its error, and the job goes on. An endpoint that can serve no run (connection
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
from tqdm.auto import tqdm

from swirl_agents.agent import create_swirl_agent, model_name
from swirl_agents.datasets import Question
from swirl_agents.errors import endpoint_error
from swirl_agents.grading import grade
from swirl_agents.progress import StepProgress
from swirl_agents.traces.schema import Trajectory
from swirl_agents.traces.store import TraceStore

_RETRYABLE_NAMES = (
    "RateLimit",
    "ResourceExhausted",
    "ServiceUnavailable",
    "InternalServerError",
    "APITimeout",
    "APIConnection",
    "DeadlineExceeded",
)


def is_retryable(exc: Exception) -> bool:
    """Rate limits (429), server errors (5xx), timeouts and dropped connections; not bad requests
    or bugs, which fail the run at once."""
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return status == 429 or status >= 500
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return any(name in type(exc).__name__ for name in _RETRYABLE_NAMES)


def retry_policy(max_attempts: int = 6, initial_interval: float = 1.0) -> RetryPolicy:
    """Exponential backoff with jitter (1 s, 2 s, 4 s ... up to 60 s) on retryable model errors."""
    return RetryPolicy(
        initial_interval=initial_interval,
        backoff_factor=2.0,
        max_interval=60.0,
        max_attempts=max_attempts,
        jitter=True,
        retry_on=is_retryable,
    )


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


class _GradingSink:
    """Grades a finished run against its gold answer, then hands it to the store."""

    def __init__(self, store: TraceStore, task: str, finished: dict[str, Trajectory]) -> None:
        self.store, self.task, self.finished = store, task, finished

    def add(self, trajectory: Trajectory) -> bool:
        if trajectory.gold_answer is not None:
            trajectory.correct = grade(trajectory.answer, trajectory.gold_answer, self.task)
        self.finished[trajectory.id] = trajectory
        return self.store.add(trajectory)


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

    finished: dict[str, Trajectory] = {}
    graph = create_swirl_agent(
        model,
        tools,
        max_steps=max_steps,
        task=task,
        trace_store=_GradingSink(store, task, finished),
        trace_source="generated",
        retry_policy=retry or retry_policy(),
    )
    extra = {"generator": label, **(metadata or {})}
    fields = [_trace_fields(q, k, pid, extra) for q, k, pid in todo]
    configs = [
        {
            "max_concurrency": concurrency,
            "configurable": {"swirl_trace": f},
            "run_name": "swirl_generate",
        }
        for f in fields
    ]
    inputs = [{"question": q.question} for q, _, _ in todo]
    report = GenerateReport(len(plan), len(plan) - len(todo), 0, 0, 0, 0, 0.0, label)
    started = time.time()
    with (
        tqdm(total=len(todo), desc=f"generate {label}", unit="run", disable=not progress) as bar,
        StepProgress(bar) as steps,
    ):
        for config in configs:
            config["callbacks"] = [steps]  # counts model calls and tokens while runs are in flight
        for i, output in graph.batch_as_completed(inputs, configs, return_exceptions=True):
            pid = todo[i][2]
            if isinstance(output, BaseException) and (err := endpoint_error(output, model)):
                raise err from output  # every run would fail so; a rerun resumes from the store
            traj = finished.pop(pid, None)
            if traj is None or isinstance(output, BaseException):
                # The run raised (after retries) or logged nothing: record it as failed, go on.
                error = (
                    f"{type(output).__name__}: {output}"
                    if isinstance(output, BaseException)
                    else ""
                )
                traj = Trajectory(
                    question=todo[i][0].question,
                    outcome="failed",
                    correct=False,
                    source="generated",
                    model=label,
                    error=error or "the run ended without a trace",
                    **fields[i],
                )
                store.add(traj)
                report.failed += 1
            report.done += 1
            report.answered += traj.outcome == "answered"
            report.correct += bool(traj.correct)
            bar.update()
            steps.note(acc=f"{report.correct / report.done:.2f}", failed=report.failed)
    report.wall_s = time.time() - started
    return report


def _trace_fields(q: Question, sample: int, pid: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": pid,
        "gold_answer": q.answer,
        "dataset": q.dataset,
        "split": q.split,
        "question_id": q.id,
        "sample": sample,
        "metadata": {**extra},
    }
