"""Test doubles: a scripted chat model that records what it was asked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr

from swirl_agents.datasets import Question


class ScriptedChatModel(BaseChatModel):
    """Replies with ``script`` in order (cycling), or ``script(messages)`` if it is a function.

    A reply is a string or an ``AIMessage`` (e.g. with ``tool_calls``). ``bind_tools`` binds
    the tools' OpenAI schemas, as real providers do. Records every call's messages, stop
    sequences and other kwargs (bound ``tools`` among them) in ``calls``.
    """

    script: Any
    finish_reason: str = "stop"
    model_name: str = ""
    _calls: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self._calls

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _reply(self, messages: Sequence[BaseMessage]) -> str | AIMessage:
        if callable(self.script):
            return self.script(messages)
        script: list[Any] = self.script
        return script[len(self._calls) % len(script)]

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any):
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._reply(messages)
        self._calls.append({"messages": list(messages), "stop": stop, "kwargs": kwargs})
        meta = {"finish_reason": self.finish_reason}
        if isinstance(reply, AIMessage):
            msg = reply.model_copy(
                update={"response_metadata": {**reply.response_metadata, **meta}}, deep=True
            )
        else:
            msg = AIMessage(reply, response_metadata=meta)
        return ChatResult(generations=[ChatGeneration(message=msg)])


def scripted(
    script: Sequence[Any] | Callable[[Sequence[BaseMessage]], Any], **kw
) -> ScriptedChatModel:
    return ScriptedChatModel(script=script if callable(script) else list(script), **kw)


def call(name: str, args: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    """A tool call as a chat model returns it."""
    return {"name": name, "args": args, "id": id or f"call_{name}", "type": "tool_call"}


def tool_turn(text: str, *calls: dict[str, Any]) -> AIMessage:
    """A model turn with native tool calls."""
    return AIMessage(text, tool_calls=list(calls))


def toy_question(id: str, question: str, answer: str, **fields: Any) -> Question:
    """A question of a toy test split (``dataset`` "toy", ``split`` "test" unless given)."""
    return Question(id, question, answer, **{"dataset": "toy", "split": "test", **fields})
