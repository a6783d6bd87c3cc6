"""Turning a finished graph state into a Trajectory record."""

from __future__ import annotations

from typing import Any

from swirl_agents.traces.schema import Trajectory


def trajectory_from_state(
    state: dict[str, Any],
    *,
    system_prompt: str,
    model: str,
    source: str = "production",
    **fields: Any,
) -> Trajectory:
    """Build the record of a finished run. ``fields`` set any other Trajectory field
    (``id``, ``gold_answer``, ``dataset``, ``split``, ``question_id``, ``sample``, ``metadata``,
    ``task``, ``tools``). The state's ``steps`` are the records' Step objects, as they are."""
    return Trajectory(
        question=state["question"],
        steps=list(state.get("steps") or []),
        answer=state.get("answer"),
        outcome=state.get("outcome")
        or ("answered" if state.get("answer") is not None else "no_answer"),
        source=source,
        system_prompt=system_prompt,
        model=model,
        **fields,
    )
