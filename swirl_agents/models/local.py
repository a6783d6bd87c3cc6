"""A LangChain chat model over a local Hugging Face causal LM that batches concurrent calls.

Concurrent ``invoke`` calls from several threads (a graph's ``batch``) and ``ainvoke`` calls
(``abatch``) are collected by one background worker into a single padded ``generate``: decoding is
memory-bound, so 16 rows cost little more than one. The keys/values of a prompt prefix that every
row shares (the agent's system prompt) are computed once and reused. torch and transformers are
imported only when a model is loaded or run.
"""

from __future__ import annotations

import asyncio
import copy
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr

from swirl_agents.errors import UsageError

_MIN_PREFIX = 16  # shorter shared prefixes are not worth a cache entry
_MAX_PREFIXES = 4
_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


@dataclass(frozen=True)
class GenerationParams:
    """The settings rows must share to be generated in one call."""

    temperature: float
    max_tokens: int
    stop: tuple[str, ...]
    seed: int | None


@dataclass
class _Request:
    prompt_ids: list[int]
    params: GenerationParams
    future: Future = field(default_factory=Future)


@dataclass(frozen=True)
class Completion:
    """One generated row: the text (cut after the first stop string), its token ids, and why it ended."""

    text: str
    token_ids: list[int]
    finish_reason: str  # "stop" (eos or a stop string) | "length" (the max_tokens cap)


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
    """Seeds torch before each sampled batch, for reproducible sampling."""
    max_batch_size: int = 32
    """The most rows one ``generate`` call takes."""
    batch_wait_s: float = 0.02
    """How long the worker waits after a first request for others to join its batch."""
    prefix_cache: bool = True
    """Reuse the keys/values of a prompt prefix shared by every row (the system prompt)."""

    _queue: queue.SimpleQueue = PrivateAttr(default_factory=queue.SimpleQueue)
    _worker: threading.Thread | None = PrivateAttr(default=None)
    _worker_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _generate_calls: int = PrivateAttr(default=0)
    _stop_criteria: dict[tuple[str, ...], Any] = PrivateAttr(default_factory=dict)
    _prefixes: OrderedDict[tuple[int, ...], Any] = PrivateAttr(default_factory=OrderedDict)
    _last_prompt: tuple[int, ...] = PrivateAttr(default=())

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
    def generate_calls(self) -> int:
        """How many ``generate`` calls the worker has made (each serves one batch)."""
        return self._generate_calls

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
    def _submit(
        self, messages: Sequence[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> Future:
        params = GenerationParams(
            temperature=float(kwargs.get("temperature", self.temperature)),
            max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
            stop=tuple(stop or ()),
            seed=kwargs.get("seed", self.seed),
        )
        if params.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {params.max_tokens}")
        request = _Request(self._prompt_ids(messages), params)
        self._ensure_worker()
        self._queue.put(request)
        return request.future

    def _prompt_ids(self, messages: Sequence[BaseMessage]) -> list[int]:
        chat = [{"role": _ROLES.get(m.type, m.type), "content": m.text} for m in messages]
        text = self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _ensure_worker(self) -> None:
        with self._worker_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._serve, name=f"swirl-local-{self.model_name}", daemon=True
                )
                self._worker.start()

    def _serve(self) -> None:
        """Worker loop: take a request, gather what arrives within the wait window, generate."""
        while True:
            pending = [self._queue.get()]
            deadline = time.monotonic() + self.batch_wait_s
            while len(pending) < self.max_batch_size:
                try:
                    pending.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            groups: dict[GenerationParams, list[_Request]] = {}
            for request in pending:
                groups.setdefault(request.params, []).append(request)
            for params, requests in groups.items():
                try:
                    completions = self.generate_batch([r.prompt_ids for r in requests], params)
                except BaseException as exc:  # noqa: BLE001 - the callers get it, the worker lives on
                    for r in requests:
                        r.future.set_exception(exc)
                    continue
                for r, completion in zip(requests, completions, strict=True):
                    r.future.set_result(completion)

    def generate_batch(
        self, prompts: Sequence[Sequence[int]], params: GenerationParams
    ) -> list[Completion]:
        """Generate for several tokenized prompts in one ``generate`` call.

        Rows are padded between their shared prefix and their own suffix, with the padding
        masked: a shared prefix's keys/values are computed once and reused (position ids follow
        the attention mask), and with no shared prefix this is plain left padding.
        """
        import torch

        self._generate_calls += 1
        pad = self.tokenizer.pad_token_id
        prefix, cache = self._shared_prefix(prompts)
        width = max(len(p) for p in prompts)
        rows, masks = [], []
        for p in prompts:
            gap = width - len(p)
            rows.append([*prefix, *[pad] * gap, *p[len(prefix) :]])
            masks.append([1] * len(prefix) + [0] * gap + [1] * (len(p) - len(prefix)))
        device = self.hf_model.device
        options: dict[str, Any] = {
            "max_new_tokens": params.max_tokens,
            "pad_token_id": pad,
            "eos_token_id": sorted(self._eos_ids()),
            "do_sample": params.temperature > 0,
        }
        if cache is not None:
            options["past_key_values"] = cache
        if params.temperature > 0:
            options.update(temperature=params.temperature, top_k=0, top_p=1.0)
            if params.seed is not None:
                torch.manual_seed(params.seed)
        if params.stop:
            options["stopping_criteria"] = self._stop_criterion(params.stop)
        with torch.inference_mode():
            output = self.hf_model.generate(
                input_ids=torch.tensor(rows, device=device),
                attention_mask=torch.tensor(masks, device=device),
                **options,
            )
        return [self._complete(row[width:].tolist(), params.stop) for row in output]

    def _shared_prefix(self, prompts: Sequence[Sequence[int]]) -> tuple[list[int], Any]:
        """The longest known prefix of every prompt with its keys/values, expanded to the batch.

        A prefix becomes known when a batch (or two calls in a row) share one of at least
        ``_MIN_PREFIX`` tokens; the few most recent prefixes are kept.
        """
        if not self.prefix_cache:
            return [], None
        import torch

        known = [k for k in self._prefixes if all(_starts_with(p, k) for p in prompts)]
        if known:
            prefix = max(known, key=len)
            self._prefixes.move_to_end(prefix)
        else:
            others = prompts if len(prompts) > 1 else [*prompts, self._last_prompt]
            self._last_prompt = tuple(prompts[0])
            # Every row keeps at least one token of its own to feed the model.
            length = min(_common_prefix_len(others), min(len(p) for p in prompts) - 1)
            if length < _MIN_PREFIX:
                return [], None
            prefix = tuple(prompts[0][:length])
            with torch.inference_mode():
                ids = torch.tensor([prefix], device=self.hf_model.device)
                self._prefixes[prefix] = self.hf_model(
                    input_ids=ids, use_cache=True
                ).past_key_values
            while len(self._prefixes) > _MAX_PREFIXES:
                self._prefixes.popitem(last=False)
        cache = copy.deepcopy(self._prefixes[prefix])  # generate extends it in place
        cache.batch_repeat_interleave(len(prompts))
        return list(prefix), cache

    def _stop_criterion(self, stop: tuple[str, ...]) -> Any:
        """Built once per stop tuple: a StopStringCriteria scans the vocabulary (about 0.5 s)."""
        if stop not in self._stop_criteria:
            from transformers import StoppingCriteriaList, StopStringCriteria

            criterion = StopStringCriteria(self.tokenizer, list(stop))
            self._stop_criteria[stop] = StoppingCriteriaList([criterion])
        return self._stop_criteria[stop]

    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        configured = self.hf_model.generation_config.eos_token_id
        ids.update(configured if isinstance(configured, list) else [configured])
        return {i for i in ids if i is not None}

    def _complete(self, ids: list[int], stop: tuple[str, ...]) -> Completion:
        """Cut a generated row at eos (finished rows are padded with it) or its first stop string."""
        eos = self._eos_ids()
        end = next((i for i, t in enumerate(ids) if t in eos), None)
        reason = "length" if end is None else "stop"
        ids = ids[:end]
        text = self._decode(ids)
        hit = _first_stop(text, stop)
        if hit is not None:
            text, reason = text[:hit], "stop"
            # Keep only the tokens the cut text needs (a last token may run past the stop string).
            while ids and _first_stop(self._decode(ids[:-1]), stop) == hit:
                ids = ids[:-1]
        return Completion(text=text, token_ids=ids, finish_reason=reason)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def _starts_with(ids: Sequence[int], prefix: tuple[int, ...]) -> bool:
    return len(ids) > len(prefix) and tuple(ids[: len(prefix)]) == prefix


def _common_prefix_len(prompts: Sequence[Sequence[int]]) -> int:
    first, n = prompts[0], min(len(p) for p in prompts)
    return next((i for i in range(n) if any(p[i] != first[i] for p in prompts)), n)


def _first_stop(text: str, stop: Sequence[str]) -> int | None:
    """The end offset of the earliest stop string in ``text``, or None."""
    hits = [(i, i + len(s)) for s in stop if s and (i := text.find(s)) >= 0]
    return min(hits)[1] if hits else None


def _result(completion: Completion, model_name: str) -> ChatResult:
    meta = {
        "finish_reason": completion.finish_reason,
        "token_ids": completion.token_ids,
        "model_name": model_name,
    }
    message = AIMessage(completion.text, response_metadata=meta)
    return ChatResult(generations=[ChatGeneration(message=message)])
