"""A LangChain chat model over a local Hugging Face causal LM, with continuous batching.

Concurrent ``invoke`` calls from several threads (a graph's ``batch``) and ``ainvoke`` calls
(``abatch``) go to one :class:`~swirl_agents.models.engine.BatchEngine`, which decodes every
running call in one forward pass per token and lets calls join and leave between tokens
(see engine.py). torch and transformers are imported only when a model is loaded or run.

Tool calling: :meth:`LocalChatModel.bind_tools` offers LangChain tools the way hosted chat models
do, so the model runs inside ``langchain.agents.create_agent`` or a ``ToolNode`` loop. The tools
are rendered into the prompt and the calls read from the reply as :mod:`toolcalls` defines
(``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks, the Hermes/Qwen format).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

from swirl_agents.errors import UsageError
from swirl_agents.models import toolcalls

if TYPE_CHECKING:  # the engine imports torch: only when a model runs
    from swirl_agents.models.engine import BatchEngine, Completion, GenerationParams

_FORCED = ("any", "required")  # tool_choice values that mean "call some tool"


@dataclass(frozen=True)
class _ToolPlan:
    """How one call offers tools: what is parsed, and the text the reply is made to start with."""

    names: tuple[str, ...] = ()
    parse: bool = False  # read tool calls from the reply
    prefill: str = ""  # forced start of the reply (tool_choice), already in the prompt
    prefill_ids: tuple[int, ...] = ()


class LocalChatModel(BaseChatModel):
    """A transformers causal LM as a LangChain chat model, with cross-call batching.

    The reply keeps the stop string that ended it (``...</answer>``), so ``token_ids`` in
    ``response_metadata`` are exactly the ids of the returned text. With tools bound
    (:meth:`bind_tools`), a reply's ``<tool_call>`` blocks become its ``tool_calls`` (or
    ``invalid_tool_calls``) and leave its content; ``token_ids`` are then the ids of the whole
    generated text, kept in ``response_metadata["raw_text"]``. Build it with
    :meth:`from_pretrained` or from an already loaded model and tokenizer.
    """

    hf_model: Any = Field(repr=False)
    """A loaded transformers ``PreTrainedModel`` (causal LM)."""
    tokenizer: Any = Field(repr=False)
    """Its tokenizer; it must carry a chat template."""
    model_name: str = "local"
    """The name recorded in traces and ``response_metadata``."""
    temperature: float = 0.0
    """0 decodes greedily; above 0 samples at that temperature (no top-k/top-p)."""
    max_tokens: int = 128
    """The cap on new tokens per call."""
    seed: int | None = None
    """Seeds the sampler once, so a run of calls is reproducible (a call's own ``seed`` wins)."""
    max_batch_size: int = 32
    """The most calls decoded together."""
    batch_wait_s: float = 0.02
    """When idle, how long the first call waits for others to start with it."""
    prefix_cache: bool = True
    """Reuse the keys/values of a known prompt prefix (the system prompt, an agent's last step)."""
    prefix_cache_mb: int = 1024
    """Memory for those keys/values; the least recently used go first."""

    _engine: BatchEngine | None = PrivateAttr(default=None)
    _engine_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, device: str | None = None, **kwargs: Any
    ) -> LocalChatModel:
        """Load a checkpoint directory (a full model, or a PEFT adapter over its base model).

        Args:
            path: a directory with ``config.json`` (or ``adapter_config.json``) and a tokenizer.
            device: ``"cpu"``, ``"cuda"``, ...; the GPU when there is one, else the CPU.
            kwargs: fields of LocalChatModel (temperature, max_tokens, model_name, ...).
        """
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.float32 if device == "cpu" else "auto"  # bf16 matmuls are slow on CPU
        if not (path / "config.json").is_file() and (path / "adapter_config.json").is_file():
            from peft import AutoPeftModelForCausalLM  # a LoRA output: merge it for fast decoding

            model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=dtype).merge_and_unload()
        elif (path / "config.json").is_file():
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        else:
            raise UsageError(f"{path} holds no model (no config.json or adapter_config.json)")
        tokenizer = AutoTokenizer.from_pretrained(path)
        kwargs.setdefault("model_name", str(path))
        return cls(hf_model=model.to(device).eval(), tokenizer=tokenizer, **kwargs)

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        if not getattr(self.tokenizer, "chat_template", None):
            raise UsageError(f"model {self.model_name!r}: its tokenizer has no chat template")
        if self.tokenizer.pad_token_id is None:  # left padding is masked, any id will do
            self.tokenizer.pad_token = self.tokenizer.eos_token

    @property
    def _llm_type(self) -> str:
        return "swirl-local-transformers"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    @property
    def forward_passes(self) -> int:
        """Forward passes run so far (a prefill per call, then one per token for all running calls)."""
        return self._engine.forward_passes if self._engine else 0

    # --- LangChain entry points ------------------------------------------------------------------
    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable:
        """Offer ``tools`` to the model; its replies then carry ``tool_calls``.

        Args:
            tools: LangChain tools, functions, pydantic classes or OpenAI-format schemas.
            tool_choice: ``None``/``"auto"``: the model decides; ``"none"``: no tool is offered;
                ``"any"``/``"required"``/``True``: the reply is made to start with a
                ``<tool_call>`` block; a tool's name (or ``{"type": "function", "function":
                {"name": ...}}``): the reply starts with a call to that tool.
            parallel_tool_calls: ``False`` stops decoding after the first call.
            kwargs: bound as call arguments too (``temperature``, ``max_tokens``, ...).
        """
        formatted = [convert_to_openai_tool(t) for t in tools]
        choice = _tool_choice(tool_choice)
        if choice not in (None, "auto", "none", *_FORCED) and choice not in toolcalls.tool_names(
            formatted
        ):
            raise ValueError(f"tool_choice {choice!r} names none of the bound tools")
        if choice is not None:
            kwargs["tool_choice"] = choice
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return self.bind(tools=formatted, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        future, plan = self._submit(messages, stop, kwargs)
        return _result(future.result(), self.model_name, plan)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        future, plan = self._submit(messages, stop, kwargs)
        return _result(await asyncio.wrap_future(future), self.model_name, plan)

    # --- batching --------------------------------------------------------------------------------
    @property
    def engine(self) -> BatchEngine:
        """The continuous-batching engine, started on first use."""
        from swirl_agents.models.engine import BatchEngine

        with self._engine_lock:
            if self._engine is None:
                self._engine = BatchEngine(
                    self.hf_model,
                    self.tokenizer,
                    max_batch_size=self.max_batch_size,
                    batch_wait_s=self.batch_wait_s,
                    prefix_cache_mb=self.prefix_cache_mb if self.prefix_cache else 0,
                    seed=self.seed,
                    name=self.model_name,
                )
            return self._engine

    def _submit(
        self, messages: Sequence[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[Future, _ToolPlan]:
        from swirl_agents.models.engine import GenerationParams, Request

        tools = [convert_to_openai_tool(t) for t in kwargs.get("tools") or ()]
        choice = _tool_choice(kwargs.get("tool_choice"))
        if choice == "none":  # not offered: the reply is plain text
            tools = []
        stop = list(stop or ())
        if tools and kwargs.get("parallel_tool_calls") is False:
            stop.append(toolcalls.CLOSE)  # one call: the reply ends with its block
        plan = self._tool_plan(tools, choice)
        params = GenerationParams(
            temperature=float(kwargs.get("temperature", self.temperature)),
            max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
            stop=tuple(stop),
        )
        prompt = [*self._prompt_ids(messages, tools), *plan.prefill_ids]
        future = self.engine.submit(
            Request(prompt, params, generator=_generator(kwargs.get("seed")))
        )
        return future, plan

    def _tool_plan(self, tools: list[dict[str, Any]], choice: str | None) -> _ToolPlan:
        if not tools:
            return _ToolPlan()
        names = tuple(toolcalls.tool_names(tools))
        prefill = ""
        if choice in _FORCED:
            prefill = f"{toolcalls.OPEN}\n"
        elif choice not in (None, "auto"):  # one named tool (checked at bind time)
            prefill = f'{toolcalls.OPEN}\n{{"name": {json.dumps(choice, ensure_ascii=False)}, "arguments": {{'
        ids = self.tokenizer(prefill, add_special_tokens=False)["input_ids"] if prefill else []
        return _ToolPlan(names=names, parse=True, prefill=prefill, prefill_ids=tuple(ids))

    def _prompt_ids(
        self, messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]] | None = None
    ) -> list[int]:
        text = toolcalls.render_prompt(self.tokenizer, messages, tools)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def generate_batch(
        self, prompts: Sequence[Sequence[int]], params: GenerationParams
    ) -> list[Completion]:
        """Generate for several tokenized prompts at once (they are decoded together)."""
        from swirl_agents.models.engine import Request

        futures = [self.engine.submit(Request(list(p), params)) for p in prompts]
        return [f.result() for f in futures]


def _generator(seed: int | None) -> Any:
    """A call's own sampler, so that the same seed gives the same reply in any batch."""
    if seed is None:
        return None
    import torch

    return torch.Generator().manual_seed(int(seed))


def _tool_choice(choice: Any) -> str | None:
    """tool_choice in its LangChain/OpenAI spellings to None, "auto", "none", "any" or a name."""
    if choice is None or choice is False:
        return None
    if choice is True:
        return "any"
    if isinstance(choice, dict):  # {"type": "function", "function": {"name": ...}}
        return str((choice.get("function") or {}).get("name") or choice.get("name") or "any")
    return str(choice)


def _result(completion: Completion, model_name: str, plan: _ToolPlan) -> ChatResult:
    # A forced start is part of the model's turn: its ids and text lead the reply.
    text = plan.prefill + completion.text
    meta = {
        "finish_reason": completion.finish_reason,
        "token_ids": [*plan.prefill_ids, *completion.token_ids],
        "model_name": model_name,
    }
    if not plan.parse:
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(text, response_metadata=meta))]
        )
    content, calls, invalid = toolcalls.parse_tool_calls(text, plan.names)
    if content != text:  # token_ids are the ids of this text, the calls included
        meta["raw_text"] = text
    if calls:
        meta["finish_reason"] = "tool_calls"
    message = AIMessage(
        content, tool_calls=calls, invalid_tool_calls=invalid, response_metadata=meta
    )
    return ChatResult(generations=[ChatGeneration(message=message)])
