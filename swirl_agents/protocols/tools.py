"""The tool-call protocol: native tool calling through ``bind_tools`` and LangGraph's ``ToolNode``.

Each model turn is one step: its text plus zero or more tool calls, with their results. A turn
with tool calls runs them all (``ToolNode``: in parallel, a failing tool is an error result) and
the model sees the results as tool messages; a turn with text and no tool call is the answer; an
empty turn, or one whose only tool calls are malformed, is invalid and gets a corrective user turn.

The step record (``swirl_agents.traces.schema.Step``): ``kind`` is ``tool`` / ``answer`` /
``invalid``; ``tool_calls`` lists ``{"id", "name", "args", "output", "status"}``; ``argument``,
``tool`` and ``observation`` hold the same calls as text (``name({"a": 1})``, the tool names,
``name({"a": 1}) -> RESULT`` lines), so readers of tag steps see something meaningful.
``step_fields`` is shared with the capture handler (``swirl_agents.traces.capture``), so a
captured app's runs and this agent's runs have the same records.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
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

from swirl_agents.protocols.base import Turn

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


def step_fields(message: BaseMessage) -> dict[str, Any]:
    """A model turn (an AI message) as step fields; tool calls not yet run (``output`` None)."""
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
    fields: dict[str, Any] = {"text": text, "tool": None, "error": error, "observation": None}
    if calls:
        return {
            **fields,
            "kind": "tool",
            "argument": "; ".join(map(render_call, calls)),
            "tool_calls": calls,
        }
    if not bad and text.strip():
        return {**fields, "kind": "answer", "argument": text.strip(), "tool_calls": None}
    error = error or "an empty turn: no text and no tool call"
    return {
        **fields,
        "kind": "invalid",
        "argument": "",
        "error": error,
        "observation": corrective_turn(error),
        "tool_calls": None,
    }


def with_results(step: dict[str, Any], results: Sequence[Any]) -> dict[str, Any]:
    """The step fields after its tool calls ran; ``results`` are ToolMessages (any order)."""
    by_id = {getattr(r, "tool_call_id", None): r for r in results}
    calls = []
    for call in step.get("tool_calls") or []:
        result = by_id.get(call["id"])
        if result is None:
            output, status = "Error: the tool returned no result", "error"
        elif isinstance(result, ToolMessage):
            output, status = str(result.text), result.status
        else:  # a Command or other value: not applicable to this graph's state
            output, status = str(result), "error"
        calls.append({**call, "output": output, "status": status})
    return summarize({**step, "tool_calls": calls})


def summarize(step: dict[str, Any]) -> dict[str, Any]:
    """``tool_calls`` with their outputs, and the same as text: the names of the tools that ran
    (``tool``), ``name(ARGS) -> RESULT`` lines (``observation``), the failures (``error``)."""
    ran = [c for c in step.get("tool_calls") or [] if c.get("output") is not None]
    errors = [step["error"]] if step.get("error") else []
    errors += [f"{c['name']}: {c['output']}" for c in ran if c.get("status") == "error"]
    return {
        "tool_calls": step.get("tool_calls"),
        "tool": ", ".join(dict.fromkeys(c["name"] for c in ran)) or None,
        "observation": "\n".join(f"{render_call(c)} -> {c['output']}" for c in ran) or None,
        "error": "; ".join(errors),
    }


def render_step(step: dict[str, Any]) -> list[BaseMessage]:
    """The messages one step adds to the conversation: the AI turn, then its results."""
    calls = step.get("tool_calls") or []
    out: list[BaseMessage] = [
        AIMessage(
            step["text"],
            tool_calls=[{"name": c["name"], "args": c["args"], "id": c["id"]} for c in calls],
        )
    ]
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
    if not calls and step.get("observation") is not None:
        out.append(HumanMessage(step["observation"]))
    return out


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
        # handle_tool_errors=True: every failing tool is an error result the model can read
        self.node = ToolNode(self.tools, handle_tool_errors=True) if self.tools else None
        self.system_prompt = system_prompt or default_system_prompt(max_steps, task)

    def bind(self, model: BaseChatModel) -> Runnable:
        return model.bind_tools(self.tools) if self.tools else model

    def render(self, question: str, steps: list[dict[str, Any]]) -> list[BaseMessage]:
        messages: list[BaseMessage] = [SystemMessage(self.system_prompt), HumanMessage(question)]
        for step in steps:
            messages.extend(render_step(step))
        return messages

    def parse(self, reply: BaseMessage) -> Turn:
        fields = step_fields(reply)
        return Turn(fields, run_tools=fields["kind"] == "tool")

    def _request(self, step: dict[str, Any]) -> list[AIMessage]:
        calls = step.get("tool_calls") or []
        return [
            AIMessage(
                step["text"],
                tool_calls=[{"name": c["name"], "args": c["args"], "id": c["id"]} for c in calls],
            )
        ]

    def run_tools(self, step: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        if self.node is None:
            return with_results(step, [])
        return with_results(step, self.node.invoke(self._request(step), config))

    async def arun_tools(self, step: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        if self.node is None:
            return with_results(step, [])
        return with_results(step, await self.node.ainvoke(self._request(step), config))
