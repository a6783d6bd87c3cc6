"""The interface every action protocol implements (see ``swirl_agents.protocols``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig


@dataclass
class Turn:
    """One model reply, parsed: the protocol's part of a step record.

    ``fields`` are Step fields (text, kind, argument, observation, tool, error, tool_calls);
    ``run_tools`` says whether the turn asks for tools to run before the next model call.
    """

    fields: dict[str, Any] = field(default_factory=dict)
    run_tools: bool = False


class AgentProtocol(Protocol):
    """Render a state, parse a turn, run its tools."""

    name: str  # recorded as Trajectory.protocol, e.g. "swirl-tags/1"
    system_prompt: str  # the exact system turn the model sees

    def bind(self, model: BaseChatModel) -> Runnable:
        """The model as it is called at every step (stop sequences, bound tools)."""
        ...

    def render(self, question: str, steps: list[dict[str, Any]]) -> list[BaseMessage]:
        """The conversation the model sees after ``steps``."""
        ...

    def parse(self, reply: BaseMessage) -> Turn:
        """A model reply as a step (``kind`` answer means the run ends with ``argument``)."""
        ...

    def run_tools(self, step: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """The step's tools run: the step fields to update (observation, tool, error, ...).
        A failing tool is a result, never an exception."""
        ...

    async def arun_tools(self, step: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """``run_tools`` on the event loop."""
        ...
