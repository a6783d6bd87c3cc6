"""The one run loop of ``swirl eval`` and ``swirl generate``: the agent over many questions.

:func:`run_agent` runs the SWiRL agent graph on (question, sample) items, ``concurrency`` runs at
a time (``graph.batch_as_completed``; a local model batches the concurrent calls into one
``generate``), with a progress bar that counts finished runs and, while they are in flight, every
model call and token (:class:`swirl_agents.progress.StepProgress`). Each finished run reaches the
caller's ``finish`` as a trajectory, in completion order:

- model calls retry with exponential backoff on rate limits, server errors and timeouts
  (:func:`retry_policy`, the one policy of both commands);
- a run that still fails, or ends without a trace, becomes a trajectory with outcome ``"failed"``
  and its error, and the job goes on;
- an endpoint that can serve no run (connection refused, unknown model, refused credentials:
  :func:`swirl_agents.errors.endpoint_error`) raises :class:`~swirl_agents.errors.EndpointError`
  at the first such run: every run would fail so, and scoring them would read as a model that
  answers nothing. Such errors are not retried either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.types import RetryPolicy
from tqdm.auto import tqdm

from swirl_agents.agent import create_swirl_agent, model_name
from swirl_agents.errors import endpoint_error
from swirl_agents.graders import ALIASES_KEY
from swirl_agents.grading import aliases_of
from swirl_agents.progress import StepProgress
from swirl_agents.traces.schema import Trajectory

if TYPE_CHECKING:
    from swirl_agents.datasets import Question

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
    or bugs, which fail the run at once, nor an endpoint that can serve no run (connection
    refused, unknown host, 401/403/404), which stops the job at once."""
    if endpoint_error(exc) is not None:
        return False
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


@dataclass
class RunItem:
    """One run to make: the question the agent sees and the fields of its trace."""

    question: str
    fields: dict[str, Any]  # trajectory fields (``id`` names the run; gold_answer, dataset ...)


def trace_fields(
    q: Question, run_id: str, *, sample: int | None = None, metadata: Mapping[str, Any] = ()
) -> dict[str, Any]:
    """The trajectory fields of one run of ``q``: id, gold answer, dataset, split, question id,
    sample, and ``metadata`` (with the question's accepted aliases under ``gold_aliases``)."""
    meta = dict(metadata)
    aliases = aliases_of(getattr(q, "metadata", None))
    if aliases:
        meta[ALIASES_KEY] = aliases
    fields: dict[str, Any] = {
        "id": run_id,
        "gold_answer": q.answer,
        "dataset": q.dataset,
        "split": q.split,
        "question_id": q.id,
    }
    if sample is not None:
        fields["sample"] = sample
    fields["metadata"] = meta
    return fields


# finish(index, trajectory) -> the fields the progress bar shows next (e.g. {"acc": "0.25"})
Finish = Callable[[int, Trajectory], "Mapping[str, Any] | None"]


def run_agent(
    model: BaseChatModel,
    items: Sequence[RunItem],
    finish: Finish,
    *,
    tools: Sequence[BaseTool],
    task: str,
    max_steps: int,
    source: str,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    model_label: str | None = None,
    run_name: str | None = None,
    desc: str = "runs",
    unit: str = "it",
    progress: bool = True,
) -> None:
    """Run the agent on every item and hand each finished run to ``finish``, in completion order.

    Args:
        model: the chat model that writes the steps.
        items: the runs to make (their ``fields`` become the trajectory's fields).
        finish: called with (the item's index, its trajectory) once per item; it grades, stores
            and counts, and returns the fields to show on the progress bar.
        tools: the agent's tools.
        task: ``"math"`` or ``"qa"``: the prompt hints.
        max_steps: the agent's step budget (model calls per run).
        source: the trajectories' ``source`` (``generated``, ``eval``).
        concurrency: runs in flight at once.
        retry: the retry policy for model calls (default: :func:`retry_policy`).
        model_label: the model name of failed runs' records (default: the model's own name).
        run_name: the LangChain run name of each graph run.
        desc, unit: the progress bar's label and unit.
        progress: show the progress bar on stderr.

    Raises:
        EndpointError: at the first run that failed for a reason outside the model.
    """
    label = model_label or model_name(model)
    collected: dict[str, Trajectory] = {}
    graph = create_swirl_agent(
        model,
        tools,
        max_steps=max_steps,
        task=task,
        on_trace=lambda traj: collected.__setitem__(traj.id, traj),
        trace_source=source,
        retry_policy=retry or retry_policy(),
    )
    configs: list[dict[str, Any]] = [
        {"max_concurrency": concurrency, "configurable": {"swirl_trace": item.fields}}
        for item in items
    ]
    if run_name:
        for config in configs:
            config["run_name"] = run_name
    inputs = [{"question": item.question} for item in items]
    with (
        tqdm(total=len(items), desc=desc, unit=unit, disable=not progress) as bar,
        StepProgress(bar) as steps,
    ):
        for config in configs:
            config["callbacks"] = [steps]  # counts model calls and tokens while runs are in flight
        for i, output in graph.batch_as_completed(inputs, configs, return_exceptions=True):
            if isinstance(output, BaseException) and (err := endpoint_error(output, model)):
                raise err from output  # every run would fail so: stop (a rerun resumes)
            item = items[i]
            traj = collected.pop(item.fields["id"], None)
            if traj is None or isinstance(output, BaseException):
                traj = Trajectory(
                    question=item.question,
                    outcome="failed",
                    source=source,
                    model=label,
                    task=task,
                    error=f"{type(output).__name__}: {output}"
                    if isinstance(output, BaseException)
                    else "the run ended without a trace",
                    **{**item.fields, "metadata": dict(item.fields.get("metadata") or {})},
                )
            shown = finish(i, traj)
            bar.update()
            steps.note(**(shown or {}))
