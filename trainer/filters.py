"""Trajectory filters, as the paper defines them: none, outcome, process, or both.

- outcome: the final answer is correct (needs a gold answer);
- process: the judge says GOOD for every step, each judged in its own context, without the gold
  answer (the paper's best data; the only filter for production traces, which have no gold);
- both: process and outcome.

``prefix=True`` (``swirl filter --prefix``) is our step-level variant of process filtering, not
the paper's: instead of dropping a trajectory with one BAD step, it keeps the trajectory up to its
first non-GOOD step (dropping it only when that is the first step). Its states are the ones the
judge vouches for: every earlier action GOOD. Why (results/exp10-exp12): most steps of a weak
model's runs follow an early mistake, and at such a state no action can be right, so a reward
that reads the reference solution pays only for computing, never for answering.

Tag-protocol and native tool-call trajectories (the ``protocol="tools"`` agent, runs captured
from other apps) filter alike: each step is judged in its own context (``step_contexts``), a
tool-call turn by its calls (``RuleProcessJudge.judge_tool_turn``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from swirl_agents.errors import UsageError
from swirl_agents.traces.schema import Trajectory
from trainer.judges import OutcomeJudge, ProcessJudge, step_contexts

Mode = Literal["none", "outcome", "process", "both"]
MODES: tuple[str, ...] = ("none", "outcome", "process", "both")


@dataclass
class FilterResult:
    """The kept trajectories and how many each stage kept."""

    kept: list[Trajectory]
    stages: dict[str, int]  # input, then each stage's survivors, in order
    verdicts: dict[str, int] = field(default_factory=dict)  # step verdicts: good / bad / unknown


def filter_trajectories(
    trajectories: Sequence[Trajectory],
    mode: Mode,
    *,
    process_judge: ProcessJudge | None = None,
    outcome_judge: OutcomeJudge | None = None,
    prefix: bool = False,
) -> FilterResult:
    """Keep the trajectories that pass ``mode``.

    Args:
        trajectories: the records to filter (ones with no steps are dropped: they hold no state).
        mode: none | outcome | process | both.
        process_judge: scores every step (process, both).
        outcome_judge: grades final answers against gold (outcome, both).
        prefix: process, both: keep each trajectory's steps before its first non-GOOD verdict
            (module docstring) instead of dropping it.
    """
    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    kept = [t for t in trajectories if t.steps]
    stages = {"input": len(trajectories), "with_steps": len(kept)}
    verdicts: dict[str, int] = {}
    if mode in ("outcome", "both"):
        if outcome_judge is None:
            raise UsageError(f"mode {mode!r} needs an outcome judge")
        no_gold = sum(t.gold_answer is None for t in kept)
        if no_gold:
            raise UsageError(
                f"outcome filtering needs gold answers, but {no_gold} of {len(kept)} trajectories "
                "have none (production traces?): use --mode process"
            )
        grades = outcome_judge.judge_outcomes(kept)
        kept = [t for t, g in zip(kept, grades, strict=True) if g == "yes"]
        stages["outcome"] = len(kept)
    if mode in ("process", "both"):
        if process_judge is None:
            raise UsageError(f"mode {mode!r} needs a process judge")
        contexts = [step_contexts(t) for t in kept]
        flat = process_judge.judge_steps([c for cs in contexts for c in cs])
        for v in flat:
            verdicts[v] = verdicts.get(v, 0) + 1
        steps = iter(flat)
        good = [_good_prefix([next(steps) for _ in cs]) for cs in contexts]
        if prefix:
            kept = [_truncate(t, n) for t, n in zip(kept, good, strict=True) if n]
            stages["prefix"] = len(kept)
            stages["prefix_steps"] = sum(good)
        else:
            kept = [t for t, n in zip(kept, good, strict=True) if n == len(t.steps)]
            stages["process"] = len(kept)
    stages["kept"] = len(kept)
    return FilterResult(kept, stages, verdicts)


def _good_prefix(verdicts: Sequence[str]) -> int:
    """How many verdicts come before the first one that is not GOOD."""
    return next((i for i, v in enumerate(verdicts) if v != "good"), len(verdicts))


def _truncate(trajectory: Trajectory, n: int) -> Trajectory:
    """``trajectory`` with its first ``n`` steps; the run's answer and outcome stay as recorded
    (they describe the run), and ``metadata["prefix"]`` says what was cut."""
    if n == len(trajectory.steps):
        return trajectory
    meta = {**trajectory.metadata, "prefix": {"kept_steps": n, "run_steps": len(trajectory.steps)}}
    return replace(trajectory, steps=trajectory.steps[:n], metadata=meta)
