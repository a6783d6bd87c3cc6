"""The interface every action protocol implements (see ``swirl_agents.protocols``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from swirl_agents.traces.schema import Step


@dataclass
class Turn:
    """One model reply, parsed: the protocol's part of a step record.

    ``step`` holds what the protocol knows (text, kind, argument, observation, tool, error,
    tool_calls); the graph fills in index, model, timing and token ids (``dataclasses.replace``).
    ``run_tools`` says whether the turn asks for tools to run before the next model call.
    """

    step: Step
    run_tools: bool = False


class AgentProtocol(Protocol):
    """Render a state, parse a turn, run its tools."""

    name: str  # recorded as Trajectory.protocol, e.g. "swirl-tags/1"
    system_prompt: str  # the exact system turn the model sees
    tool_schemas: list[dict[str, Any]] | None  # recorded as Trajectory.tools (bound tools only)

    def bind(self, model: BaseChatModel) -> Runnable:
        """The model as it is called at every step (stop sequences, bound tools)."""
        ...

    def render(self, question: str, steps: list[Step]) -> list[BaseMessage]:
        """The conversation the model sees after ``steps``."""
        ...

    def parse(self, reply: BaseMessage) -> Turn:
        """A model reply as a step (``kind`` answer means the run ends with ``argument``)."""
        ...

    def run_tools(self, step: Step, config: RunnableConfig) -> Step:
        """The step after its tools ran (observation, tool, error, tool call outputs).
        A failing tool is a result, never an exception."""
        ...

    async def arun_tools(self, step: Step, config: RunnableConfig) -> Step:
        """``run_tools`` on the event loop."""
        ...
