"""The tool-call protocol: native tool calling through ``bind_tools`` and LangGraph's ``ToolNode``.

Each model turn is one step: its text plus zero or more tool calls, with their results. A turn
with tool calls runs them all (``ToolNode``: in parallel, a failing tool is an error result) and
the model sees the results as tool messages; a turn with text and no tool call is the answer; an
empty turn, or one whose only tool calls are malformed, is invalid and gets a corrective user turn.

The step record (``swirl_agents.traces.schema.Step``): ``kind`` is ``tool`` / ``answer`` /
``invalid``; ``tool_calls`` lists ``{"id", "name", "args", "output", "status"}``; ``argument``,
``tool`` and ``observation`` hold the same calls as text (``name({"a": 1})``, the tool names,
``name({"a": 1}) -> RESULT`` lines), so readers of tag steps see something meaningful.
``turn_step`` is shared with the capture handler (``swirl_agents.traces.capture``), so a
captured app's runs and this agent's runs have the same records.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from swirl_agents.protocols.base import Turn
from swirl_agents.traces.schema import Step

PROTOCOL_VERSION = "swirl-tools/1"

_PROMPT = """You solve problems step by step, using the tools you are given. You have at most \
{max_steps} steps; each reply of yours is one step.

At each step, first write a short thought about what you know and what you need next. Then \
either call one or more tools, or, when you know it, reply with the final answer and no tool \
call; never both. A reply with no tool call ends the task. Use the tool results you have; do not \
repeat a call you already made. {task_hint}Give the answer as soon as you know it, before you \
run out of steps."""

_HINTS = {
    "math": "Compute every number with a tool rather than in your head. The answer is a single "
    "number, with no units. ",
    "qa": "Look up one thing at a time; a question may need two or more look-ups. The answer is a "
    "short phrase (a name, a date, yes or no), not a sentence. ",
}


def default_system_prompt(max_steps: int, task: str | None = None) -> str:
    return _PROMPT.format(max_steps=max_steps, task_hint=_HINTS.get(task or "", ""))


def render_call(call: dict[str, Any]) -> str:
    """A tool call as text: ``name({"arg": 1})``."""
    return f"{call['name']}({json.dumps(call.get('args') or {}, ensure_ascii=False)})"


def corrective_turn(error: str) -> str:
    return (
        f"Your last step had no valid action ({error}). Write your reasoning, then either call "
        "one or more of the tools or reply with the final answer and no tool call."
    )


def tool_schemas(tools: Sequence[Any]) -> list[dict[str, Any]] | None:
    """The OpenAI-style function schemas of ``tools`` (what ``Trajectory.tools`` records)."""
    return [convert_to_openai_tool(t) for t in tools] or None


def bound_tools(raw: Any) -> list[dict[str, Any]] | None:
    """The ``tools`` a model call was made with (``invocation_params["tools"]`` of a chat model
    with ``bind_tools``, in its provider's shape) as OpenAI-style schemas; None when there are
    none. A schema ``convert_to_openai_tool`` does not know (a provider's built-in tool) is kept
    as it is."""
    if not isinstance(raw, (list, tuple)):
        return None
    out = []
    for tool in raw:
        if not isinstance(tool, dict):
            continue
        try:
            out.append(convert_to_openai_tool(tool))
        except (ValueError, TypeError, KeyError):
            out.append(tool)
    return out or None


def turn_step(message: BaseMessage) -> Step:
    """A model turn (an AI message) as a step; its tool calls not yet run (``output`` None).
    The caller numbers it and adds model, timing and token ids (``dataclasses.replace``)."""
    text = str(message.text)
    calls = [
        {
            "id": c.get("id") or f"call_{uuid.uuid4().hex[:12]}",
            "name": c["name"],
            "args": c.get("args") or {},
            "output": None,
            "status": None,
        }
        for c in getattr(message, "tool_calls", None) or []
    ]
    bad = [
        f"{c.get('name') or '?'}: {c.get('error') or 'unparseable arguments'}"
        for c in getattr(message, "invalid_tool_calls", None) or []
    ]
    error = f"malformed tool call ({'; '.join(bad)})" if bad else ""
    if calls:
        argument = "; ".join(map(render_call, calls))
        return Step(0, text, "tool", argument, error=error, tool_calls=calls)
    if not bad and text.strip():
        return Step(0, text, "answer", text.strip())
    error = error or "an empty turn: no text and no tool call"
    return Step(0, text, "invalid", observation=corrective_turn(error), error=error)


def with_results(step: Step, results: Sequence[Any]) -> Step:
    """The step after its tool calls ran; ``results`` are ToolMessages (any order)."""
    by_id = {getattr(r, "tool_call_id", None): r for r in results}
    calls = []
    for call in step.tool_calls or []:
        result = by_id.get(call["id"])
        if result is None:
            output, status = "Error: the tool returned no result", "error"
        elif isinstance(result, ToolMessage):
            output, status = str(result.text), result.status
        else:  # a Command or other value: not applicable to this graph's state
            output, status = str(result), "error"
        calls.append({**call, "output": output, "status": status})
    return summarize(replace(step, tool_calls=calls))


def summary(calls: list[dict[str, Any]] | None, error: str = "") -> dict[str, Any]:
    """A turn's tool calls as text: the names of the tools that ran (``tool``),
    ``name(ARGS) -> RESULT`` lines (``observation``), the turn's and the tools' failures
    (``error``). Import parsers apply it to their step fields; ``summarize`` to a Step."""
    ran = [c for c in calls or [] if c.get("output") is not None]
    errors = [error] if error else []
    errors += [f"{c['name']}: {c['output']}" for c in ran if c.get("status") == "error"]
    return {
        "tool": ", ".join(dict.fromkeys(c["name"] for c in ran)) or None,
        "observation": "\n".join(f"{render_call(c)} -> {c['output']}" for c in ran) or None,
        "error": "; ".join(errors),
    }


def summarize(step: Step) -> Step:
    """The step with ``tool``, ``observation`` and ``error`` summarizing its tool calls."""
    return replace(step, **summary(step.tool_calls, step.error))


def _request(step: Step) -> AIMessage:
    """The AI turn of a step, with its tool calls (without their results)."""
    calls = [{"name": c["name"], "args": c["args"], "id": c["id"]} for c in step.tool_calls or []]
    return AIMessage(step.text, tool_calls=calls)


def render_step(step: Step) -> list[BaseMessage]:
    """The messages one step adds to the conversation: the AI turn, then its results."""
    calls = step.tool_calls or []
    out: list[BaseMessage] = [_request(step)]
    for c in calls:
        if c.get("output") is not None:
            out.append(
                ToolMessage(
                    c["output"],
                    tool_call_id=c["id"],
                    name=c["name"],
                    status=c.get("status") or "success",
                )
            )
    if not calls and step.observation is not None:
        out.append(HumanMessage(step.observation))
    return out


def render_state(system: str, question: str, steps: Sequence[Step]) -> list[BaseMessage]:
    """The conversation the model sees after ``steps`` (the tool-call protocol's state)."""
    messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(question)]
    for step in steps:
        messages.extend(render_step(step))
    return messages


class ToolCallProtocol:
    """Any number of LangChain tools, called natively with structured arguments."""

    name = PROTOCOL_VERSION

    def __init__(
        self,
        tools: Sequence[BaseTool],
        *,
        max_steps: int,
        task: str | None = None,
        system_prompt: str | None = None,
    ) -> None:
        from langgraph.prebuilt import ToolNode

        names = [t.name for t in tools]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"two tools share the name(s) {dupes}")
        self.tools = list(tools)
        self.tool_schemas = tool_schemas(self.tools)
        # handle_tool_errors=True: every failing tool is an error result the model can read
        self.node = ToolNode(self.tools, handle_tool_errors=True) if self.tools else None
        self.system_prompt = system_prompt or default_system_prompt(max_steps, task)

    def bind(self, model: BaseChatModel) -> Runnable:
        return model.bind_tools(self.tools) if self.tools else model

    def render(self, question: str, steps: list[Step]) -> list[BaseMessage]:
        return render_state(self.system_prompt, question, steps)

    def parse(self, reply: BaseMessage) -> Turn:
        step = turn_step(reply)
        return Turn(step, run_tools=step.kind == "tool")

    def run_tools(self, step: Step, config: RunnableConfig) -> Step:
        if self.node is None:
            return with_results(step, [])
        return with_results(step, self.node.invoke([_request(step)], config))

    async def arun_tools(self, step: Step, config: RunnableConfig) -> Step:
        if self.node is None:
            return with_results(step, [])
        return with_results(step, await self.node.ainvoke([_request(step)], config))
