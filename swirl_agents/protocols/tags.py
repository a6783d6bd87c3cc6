"""The tag protocol (the paper's, the default): one ``<search_query>``, ``<math_exp>`` or
``<answer>`` per turn; the text format itself lives in ``swirl_agents.protocol``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool

from swirl_agents import protocol
from swirl_agents.protocol import MATH_TAG, SEARCH_TAG, Action
from swirl_agents.protocols.base import Turn
from swirl_agents.traces.schema import Step

# Finish reasons that mean "cut by the token cap", not "stopped at a closing tag".
_LENGTH_REASONS = {"length", "max_tokens", "MAX_TOKENS"}


def tool_tag(tool: BaseTool) -> str:
    """The protocol tag a tool answers to: ``metadata["swirl_tag"]``, else guessed from its name."""
    tag = (tool.metadata or {}).get("swirl_tag")
    if tag:
        if tag not in (SEARCH_TAG, MATH_TAG):
            raise ValueError(
                f"tool {tool.name!r}: swirl_tag must be {SEARCH_TAG!r} or {MATH_TAG!r}"
            )
        return tag
    name = tool.name.lower()
    return MATH_TAG if any(k in name for k in ("calc", "math")) else SEARCH_TAG


class TagProtocol:
    """Tools map to tags (``tool_tag``); a tool is called with the tag's text."""

    name = protocol.PROTOCOL_VERSION
    tool_schemas = None  # tools answer to tags in the prompt: none is bound to the model

    def __init__(
        self,
        tools: Sequence[BaseTool],
        *,
        max_steps: int,
        task: str | None = None,
        system_prompt: str | None = None,
    ) -> None:
        self.tools_by_tag: dict[str, BaseTool] = {}
        for tool in tools:
            tag = tool_tag(tool)
            if tag in self.tools_by_tag:
                raise ValueError(
                    f"tools {self.tools_by_tag[tag].name!r} and {tool.name!r} both map to <{tag}>"
                )
            self.tools_by_tag[tag] = tool
        self.system_prompt = system_prompt or protocol.system_prompt(
            self.tools_by_tag, max_steps, task
        )

    def bind(self, model: BaseChatModel) -> Runnable:
        return model.bind(stop=protocol.STOP_SEQUENCES)

    def render(self, question: str, steps: list[Step]) -> list[BaseMessage]:
        return protocol.build_messages(self.system_prompt, question, steps)

    def parse(self, reply: BaseMessage) -> Turn:
        meta = getattr(reply, "response_metadata", {}) or {}
        stopped = meta.get("finish_reason", meta.get("stop_reason")) not in _LENGTH_REASONS
        text = protocol.complete_turn(reply.text, stopped=stopped)
        action = protocol.parse_action(text)
        if action.kind in ("search", "math") and action.tag not in self.tools_by_tag:
            action = Action(
                "invalid", reasoning=action.reasoning, error=f"no tool for <{action.tag}>"
            )
        step = Step(
            index=0,  # the graph numbers the step
            text=text,
            kind=action.kind,
            argument=action.argument,
            observation=protocol.corrective_turn(action) if action.kind == "invalid" else None,
            error=action.error,
        )
        return Turn(step, run_tools=action.kind in ("search", "math"))

    def _tool(self, step: Step) -> BaseTool:
        return self.tools_by_tag[protocol.KIND_TO_TAG[step.kind]]

    def _observe(self, step: Step, output: Any, error: str) -> Step:
        return replace(
            step,
            tool=self._tool(step).name,
            observation=protocol.render_tool_result(step.argument, _as_text(output)),
            error=error,
        )

    def run_tools(self, step: Step, config: RunnableConfig) -> Step:
        try:  # a failing tool is a result the model can read, never the end of the run
            return self._observe(step, self._tool(step).invoke(step.argument, config), "")
        except Exception as exc:  # noqa: BLE001
            return self._observe(step, f"Error: {exc}", f"{type(exc).__name__}: {exc}")

    async def arun_tools(self, step: Step, config: RunnableConfig) -> Step:
        try:
            out = await self._tool(step).ainvoke(step.argument, config)
            return self._observe(step, out, "")
        except Exception as exc:  # noqa: BLE001
            return self._observe(step, f"Error: {exc}", f"{type(exc).__name__}: {exc}")


def _as_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, BaseMessage):
        return output.text
    return str(output)
