"""Step examples: a trajectory with K actions becomes K (state, action) pairs.

The one place where a trajectory turns into training and judging inputs: SFT
(``trainer.sft``), SWiRL's states (``trainer.swirl``) and the process judges
(``trainer.judges.step_contexts``) all take their pairs from :func:`step_examples`.

The state s_i is the chat the agent sent the model before step i, rendered by the run's own
protocol (the tag protocol: :func:`swirl_agents.protocol.build_messages`; native tool calls:
:func:`swirl_agents.protocols.tools.render_state`), and the action a_i is the recorded turn
``steps[i]`` (its ``text``; with its ``tool_calls`` for a tool-call run).
s_{i+1} = s_i + a_i + what followed a_i (its tool results or a corrective turn).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from swirl_agents.protocol import MATH_TAG, SEARCH_TAG
from swirl_agents.traces.schema import Step, Trajectory

if TYPE_CHECKING:  # LangChain loads when a state's messages are first read
    from langchain_core.messages import BaseMessage


def task_of(trajectory: Trajectory) -> str:
    """The trajectory's ``task`` when it was recorded (schema v2); else, for older records,
    ``math`` or ``qa`` guessed from the tools the system prompt offers, else the actions taken."""
    if trajectory.task:
        return trajectory.task
    math_tool = f"<{MATH_TAG}>" in trajectory.system_prompt
    search_tool = f"<{SEARCH_TAG}>" in trajectory.system_prompt
    if math_tool != search_tool:
        return "math" if math_tool else "qa"
    kinds = {s.kind for s in trajectory.steps}
    return "qa" if "search" in kinds or "math" not in kinds else "math"


@dataclass(eq=False)
class StepExample:
    """One (state, action) pair of a trajectory, with what training and judging need."""

    question: str  # the task's question
    history: list[Step]  # the steps before this one (s_i, as records)
    step: Step  # a_i, the recorded step
    system_prompt: str  # the system turn of s_i
    tag_protocol: bool  # how s_i is rendered: text tags, or native tool calls
    task: str  # math | qa | ... (``task_of``)
    tools: list[dict[str, Any]] | None  # the bound tools' schemas (``Trajectory.tools``)
    trajectory_id: str  # the trajectory the step comes from
    step_index: int  # i, 0-based
    weight: float = 1.0  # 1/K with per-trajectory normalisation, else 1

    @property
    def completion(self) -> str:
        """a_i as text: the recorded model turn."""
        return self.step.text

    @cached_property
    def messages(self) -> list[BaseMessage]:
        """s_i, exactly as the agent sends it (built on first use: judges never need it)."""
        if self.tag_protocol:
            from swirl_agents.protocol import build_messages

            return build_messages(self.system_prompt, self.question, self.history)
        from swirl_agents.protocols.tools import render_state

        messages = render_state(self.system_prompt, self.question, self.history)
        return messages if self.system_prompt else messages[1:]  # a captured app had none


def step_examples(trajectory: Trajectory, *, normalize: bool = False) -> list[StepExample]:
    """The K step examples of one trajectory.

    Args:
        trajectory: a recorded run (its ``system_prompt`` and ``question`` rebuild the states).
        normalize: weigh each step 1/K so that long trajectories do not dominate (off by default:
            the paper's objective weighs every state equally).
    """
    from swirl_agents.traces.formats import is_tag_protocol

    steps = trajectory.steps
    k = len(steps)
    weight = 1.0 / k if normalize and k else 1.0
    tags, task = is_tag_protocol(trajectory), task_of(trajectory)
    return [
        StepExample(
            question=trajectory.question,
            history=steps[:i],
            step=step,
            system_prompt=trajectory.system_prompt,
            tag_protocol=tags,
            task=task,
            tools=trajectory.tools,
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
