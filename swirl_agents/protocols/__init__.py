"""Action protocols of the SWiRL agent, one module each, behind one small interface.

A protocol decides how a step looks to the model and how its reply becomes a step record:

- ``tags`` (the default, the paper's): reasoning then one ``<search_query>``, ``<math_exp>`` or
  ``<answer>`` tag; at most one search and one calculator tool; results go back as user turns.
- ``tools``: native tool calling (``bind_tools`` and LangGraph's ``ToolNode``); any number of
  tools with structured arguments; a turn with no tool call is the answer.

The graph factory (``swirl_agents.agent.create_swirl_agent``) only wires nodes around one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from swirl_agents.protocols.base import AgentProtocol, Turn

PROTOCOLS = ("tags", "tools")

__all__ = ["PROTOCOLS", "AgentProtocol", "Turn", "make_protocol"]


def make_protocol(
    name: str,
    tools: Sequence[Any],
    *,
    max_steps: int,
    task: str | None = None,
    system_prompt: str | None = None,
) -> AgentProtocol:
    """The protocol called ``name`` (``tags`` or ``tools``) over ``tools``."""
    if name == "tags":
        from swirl_agents.protocols.tags import TagProtocol

        return TagProtocol(tools, max_steps=max_steps, task=task, system_prompt=system_prompt)
    if name == "tools":
        from swirl_agents.protocols.tools import ToolCallProtocol

        return ToolCallProtocol(tools, max_steps=max_steps, task=task, system_prompt=system_prompt)
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {name!r}")
