"""Test doubles: a scripted chat model that records what it was asked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr


class ScriptedChatModel(BaseChatModel):
    """Replies with ``script`` in order (cycling), or ``script(messages)`` if it is a function.

    Records every call's messages, stop sequences and config tags in ``calls``.
    """

    script: Any
    finish_reason: str = "stop"
    _calls: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self._calls

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _reply(self, messages: Sequence[BaseMessage]) -> str:
        if callable(self.script):
            return self.script(messages)
        script: list[str] = self.script
        return script[len(self._calls) % len(script)]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self._reply(messages)
        self._calls.append({"messages": list(messages), "stop": stop, "kwargs": kwargs})
        msg = AIMessage(text, response_metadata={"finish_reason": self.finish_reason})
        return ChatResult(generations=[ChatGeneration(message=msg)])


def scripted(
    script: Sequence[str] | Callable[[Sequence[BaseMessage]], str], **kw
) -> ScriptedChatModel:
    return ScriptedChatModel(script=script if callable(script) else list(script), **kw)
