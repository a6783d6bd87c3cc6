"""A LangChain chat model over a local Hugging Face causal LM, with continuous batching.

Concurrent ``invoke`` calls from several threads (a graph's ``batch``) and ``ainvoke`` calls
(``abatch``) go to one :class:`~swirl_agents.models.engine.BatchEngine`, which decodes every
running call in one forward pass per token and lets calls join and leave between tokens
(see engine.py). torch and transformers are imported only when a model is loaded or run.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr

from swirl_agents.errors import UsageError

if TYPE_CHECKING:  # the engine imports torch: only when a model runs
    from swirl_agents.models.engine import BatchEngine, Completion, GenerationParams

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


class LocalChatModel(BaseChatModel):
    """A transformers causal LM as a LangChain chat model, with cross-call batching.

    The reply keeps the stop string that ended it (``...</answer>``), so ``token_ids`` in
    ``response_metadata`` are exactly the ids of the returned text. Build it with
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
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return _result(self._submit(messages, stop, kwargs).result(), self.model_name)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        future = self._submit(messages, stop, kwargs)
        return _result(await asyncio.wrap_future(future), self.model_name)

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
    ) -> Future:
        from swirl_agents.models.engine import GenerationParams, Request

        params = GenerationParams(
            temperature=float(kwargs.get("temperature", self.temperature)),
            max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
            stop=tuple(stop or ()),
        )
        return self.engine.submit(
            Request(self._prompt_ids(messages), params, generator=_generator(kwargs.get("seed")))
        )

    def _prompt_ids(self, messages: Sequence[BaseMessage]) -> list[int]:
        chat = [{"role": _ROLES.get(m.type, m.type), "content": m.text} for m in messages]
        text = self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
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


def _result(completion: Completion, model_name: str) -> ChatResult:
    meta = {
        "finish_reason": completion.finish_reason,
        "token_ids": completion.token_ids,
        "model_name": model_name,
    }
    message = AIMessage(completion.text, response_metadata=meta)
    return ChatResult(generations=[ChatGeneration(message=message)])
