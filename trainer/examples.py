"""Step examples: a trajectory with K actions becomes K (state, action) pairs.

The state s_i is the chat the agent sent the model before step i
(:func:`swirl_agents.protocol.build_messages`), the action a_i is the model's recorded turn
``steps[i].text``. s_{i+1} = s_i + a_i + the user turn that followed a_i.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from langchain_core.messages import BaseMessage

from swirl_agents.protocol import build_messages
from swirl_agents.traces.schema import Trajectory


@dataclass
class StepExample:
    """One training example: the state's messages and the action the model wrote there."""

    messages: list[BaseMessage]  # s_i, exactly as the agent sends it
    completion: str  # a_i, the recorded model turn
    trajectory_id: str  # the trajectory the step comes from
    step_index: int  # i, 0-based
    weight: float = 1.0  # 1/K with per-trajectory normalisation, else 1


def step_examples(trajectory: Trajectory, *, normalize: bool = False) -> list[StepExample]:
    """The K step examples of one trajectory.

    Args:
        trajectory: a recorded run (its ``system_prompt`` and ``question`` rebuild the states).
        normalize: weigh each step 1/K so that long trajectories do not dominate (off by default:
            the paper's objective weighs every state equally).
    """
    steps = [s.__dict__ for s in trajectory.steps]
    k = len(steps)
    weight = 1.0 / k if normalize and k else 1.0
    return [
        StepExample(
            messages=build_messages(trajectory.system_prompt, trajectory.question, steps, upto=i),
            completion=step["text"],
            trajectory_id=trajectory.id,
            step_index=i,
            weight=weight,
        )
        for i, step in enumerate(steps)
    ]


def iter_step_examples(
    trajectories: Iterable[Trajectory], *, normalize: bool = False
) -> Iterator[StepExample]:
    """All step examples of ``trajectories``, in order (see :func:`step_examples`)."""
    for trajectory in trajectories:
        yield from step_examples(trajectory, normalize=normalize)
