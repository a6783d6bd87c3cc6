"""Continuous batching for a local transformers causal LM (the engine behind LocalChatModel).

One worker thread owns the model. Requests join the running batch as soon as they arrive and
leave it the step they finish, so an agent whose call ended can run its tool and come back
while the others are still decoding: nobody waits for the longest row. The loop is

    admit:   prefill each new prompt alone (reusing cached keys/values of its longest known
             prefix), then merge it into the batch, right-aligned, the padding masked;
    decode:  one forward pass for every running row, one new token each;
    retire:  rows that hit eos, a stop string or their token cap get their reply; their
             keys/values are kept, keyed by their tokens, for the next step of the same agent.

Keys/values live in buffers with spare columns written in place (transformers' DynamicLayer
copies the whole cache with ``torch.cat`` at every token, which dominates a batched step on a
CPU). Models whose cache is not a plain full-attention ``DynamicCache`` (sliding-window layers)
are refused with a clear error.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from swirl_agents.errors import UsageError

_MIN_PREFIX = 16  # shorter cached prefixes are not worth a lookup hit
_HEADROOM = 64  # spare key/value columns allocated at each rebuild of the batch


@dataclass(frozen=True)
class GenerationParams:
    """How one request is decoded."""

    temperature: float  # 0: greedy; above 0: sample at that temperature (no top-k/top-p)
    max_tokens: int  # the cap on new tokens
    stop: tuple[str, ...] = ()  # strings that end the reply (kept in it)


@dataclass(frozen=True)
class Completion:
    """One generated reply: the text (cut after the first stop string), its ids, and why it ended."""

    text: str
    token_ids: list[int]
    finish_reason: str  # "stop" (eos or a stop string) | "length" (the max_tokens cap)


@dataclass
class Request:
    prompt_ids: list[int]
    params: GenerationParams
    generator: Any = None  # a torch.Generator for a call with its own seed
    future: Future = field(default_factory=Future)


@dataclass
class _Row:
    request: Request
    length: int  # tokens whose keys/values are in the batch (prompt + generated[:-1])
    generated: list[int]


class _BufferLayer(DynamicLayer):
    """One layer's keys/values for the batch: [rows, heads, capacity, dim], ``used`` columns filled.

    A DynamicLayer that writes new tokens into spare columns in place instead of concatenating.
    """

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, used: int) -> None:
        super().__init__()
        self.k, self.v, self.used = keys, values, used
        self.dtype, self.device = keys.dtype, keys.device
        self.is_initialized = True

    @property
    def keys(self) -> torch.Tensor:
        return self.k[:, :, : self.used]

    @keys.setter
    def keys(self, value: Any) -> None:  # DynamicLayer.__init__ assigns; the buffers hold the data
        pass

    @property
    def values(self) -> torch.Tensor:
        return self.v[:, :, : self.used]

    @values.setter
    def values(self, value: Any) -> None:
        pass

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple:
        n = key_states.shape[-2]
        if self.used + n > self.k.shape[-2]:  # out of spare columns: grow by half
            extra = max(n, self.k.shape[-2] // 2)
            pad = (0, 0, 0, extra)
            self.k = torch.nn.functional.pad(self.k, pad)
            self.v = torch.nn.functional.pad(self.v, pad)
        self.k[:, :, self.used : self.used + n] = key_states
        self.v[:, :, self.used : self.used + n] = value_states
        self.used += n
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.used

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.used + query_length, 0

    def get_max_length(self) -> int:
        return -1


class PrefixStore:
    """Keys/values of recent token sequences (one row each), least recently used dropped first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, ...], list[tuple[Any, Any]]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def longest(self, ids: Sequence[int]) -> tuple[int, list[tuple[Any, Any]] | None]:
        """The longest prefix of ``ids`` held (at least _MIN_PREFIX long), and its keys/values."""
        best, best_kv = 0, None
        for key, kv in self._entries.items():
            n = _common_prefix_len(key, ids)
            if n > best:
                best, best_kv, best_key = n, kv, key
        if best < _MIN_PREFIX:
            return 0, None
        self._entries.move_to_end(best_key)
        return best, best_kv

    def add(self, ids: Sequence[int], kv: list[tuple[Any, Any]]) -> None:
        key = tuple(ids)
        if len(key) < _MIN_PREFIX or self.max_bytes <= 0:
            return
        # An entry that is a prefix of the new one is now redundant.
        for old in [k for k in self._entries if len(k) <= len(key) and key[: len(k)] == k]:
            self._drop(old)
        self._entries[key] = kv
        self._bytes += _nbytes(kv)
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: tuple[int, ...]) -> None:
        self._bytes -= _nbytes(self._entries.pop(key))


class BatchEngine:
    """Continuous batching over one model; :meth:`submit` is thread-safe and returns a Future."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_batch_size: int = 32,
        batch_wait_s: float = 0.02,
        prefix_cache_mb: int = 1024,
        seed: int | None = None,
        name: str = "local",
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_batch_size, self.batch_wait_s = max_batch_size, batch_wait_s
        self.prefixes = PrefixStore(prefix_cache_mb * 2**20)
        self.generator = torch.Generator(device=model.device)
        self.generator.manual_seed(seed if seed is not None else int.from_bytes(os.urandom(4)))
        self.eos = _eos_ids(model, tokenizer)
        self.forward_passes = 0  # prefill and decode passes: fewer than calls x tokens = batching
        self.seconds = {"prefill": 0.0, "rebuild": 0.0, "decode": 0.0}  # where the time went
        self._queue: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self._waiting: deque[Request] = deque()
        self._rows: list[_Row] = []
        self._layers: list[_BufferLayer] = []
        self._mask: Any = None  # [rows, capacity] 1 where a column holds a real token
        self._name = name
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, request: Request) -> Future:
        if not request.prompt_ids:
            raise ValueError("a prompt needs at least one token")
        if request.params.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {request.params.max_tokens}")
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._serve, name=f"swirl-engine-{self._name}", daemon=True
                )
                self._worker.start()
        self._queue.put(request)
        return request.future

    # --- the loop --------------------------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            self._take_arrivals(block=not self._rows)
            with torch.inference_mode():
                try:
                    started = time.perf_counter()
                    admitted = [r for r in map(self._prefill, self._admissible()) if r]
                    rebuilding = time.perf_counter()
                    self._rebuild(admitted)
                    decoding = time.perf_counter()
                    if self._rows:
                        self._decode_step()
                    self.seconds["prefill"] += rebuilding - started
                    self.seconds["rebuild"] += decoding - rebuilding
                    self.seconds["decode"] += time.perf_counter() - decoding
                except BaseException as exc:  # noqa: BLE001 - the callers get it, the worker lives on
                    for row in self._rows:
                        if not row.request.future.done():
                            row.request.future.set_exception(exc)
                    self._rows, self._layers, self._mask = [], [], None

    def _take_arrivals(self, block: bool) -> None:
        """Move queued requests to the waiting list; when idle, wait for one and its companions."""
        if block and not self._waiting:
            self._waiting.append(self._queue.get())
            deadline = time.monotonic() + self.batch_wait_s
            while len(self._waiting) < self.max_batch_size:
                try:
                    timeout = max(0.0, deadline - time.monotonic())
                    self._waiting.append(self._queue.get(timeout=timeout))
                except queue.Empty:
                    break
        while True:
            try:
                self._waiting.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def _admissible(self) -> list[Request]:
        room = self.max_batch_size - len(self._rows)
        return [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]

    def _prefill(self, request: Request) -> tuple[_Row, list[tuple[Any, Any]]] | None:
        """Run one prompt alone from its longest cached prefix; its first token and keys/values."""
        ids = request.prompt_ids
        try:
            reused, kv = self.prefixes.longest(ids)
            reused = min(reused, len(ids) - 1)  # at least one token goes through the model
            cache = DynamicCache()
            if kv is not None:
                cache = DynamicCache(ddp_cache_data=[(k[:, :, :reused], v[:, :, :reused]) for k, v in kv])
            else:
                reused = 0
            device = self.model.device
            out = self.model(
                input_ids=torch.tensor([ids[reused:]], device=device),
                position_ids=torch.arange(reused, len(ids), device=device)[None],
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            self.forward_passes += 1
            layers = _full_attention_layers(out.past_key_values)
            kv = [(layer.keys, layer.values) for layer in layers]
            self.prefixes.add(ids, kv)
            token = self._sample(out.logits[:, -1], [request])[0]
        except BaseException as exc:  # noqa: BLE001
            request.future.set_exception(exc)
            return None
        row = _Row(request, length=len(ids), generated=[token])
        if self._finished(row):  # one token can be enough (eos, max_tokens=1)
            return None
        return row, kv

    def _rebuild(self, admitted: list[tuple[_Row, list[tuple[Any, Any]]]]) -> None:
        """New buffers holding the running rows that are not done plus the admitted ones."""
        keep = [i for i, row in enumerate(self._rows) if not row.request.future.done()]
        if len(keep) == len(self._rows) and not admitted:
            return
        rows = [self._rows[i] for i in keep] + [row for row, _ in admitted]
        self._rows = rows
        if not rows:
            self._layers, self._mask = [], None
            return
        width = max(row.length for row in rows)
        old_used = self._layers[0].used if self._layers else 0
        n_keep = len(keep)
        index = torch.tensor(keep, dtype=torch.long, device=self.model.device)
        first = admitted[0][1] if admitted else None
        template = self._layers if self._layers else None
        layers = []
        for li in range(len(template) if template else len(first)):
            ref = template[li].k if template else first[li][0]
            shape = (len(rows), ref.shape[1], width + _HEADROOM, ref.shape[3])
            k = ref.new_zeros(shape)
            v = ref.new_zeros(shape)
            if n_keep:  # running rows are right-aligned at old_used: keep their last `span` columns
                span = min(width, old_used)
                old = self._layers[li]
                k[:n_keep, :, width - span : width] = old.k[index, :, old_used - span : old_used]
                v[:n_keep, :, width - span : width] = old.v[index, :, old_used - span : old_used]
            for j, (row, kv) in enumerate(admitted):
                nk, nv = kv[li]
                k[n_keep + j, :, width - row.length : width] = nk[0]
                v[n_keep + j, :, width - row.length : width] = nv[0]
            layers.append(_BufferLayer(k, v, width))
        mask = torch.zeros(len(rows), width + _HEADROOM, dtype=torch.long, device=self.model.device)
        for b, row in enumerate(rows):
            mask[b, width - row.length : width] = 1
        self._layers, self._mask = layers, mask

    def _decode_step(self) -> None:
        """Feed every row its last token; sample the next; retire the rows that are done."""
        used = self._layers[0].used
        if used + 1 > self._mask.shape[1]:
            self._mask = torch.nn.functional.pad(self._mask, (0, self._mask.shape[1] // 2))
        self._mask[:, used] = 1
        device = self.model.device
        cache = DynamicCache()
        cache.layers = self._layers
        out = self.model(
            input_ids=torch.tensor([[row.generated[-1]] for row in self._rows], device=device),
            attention_mask=self._mask[:, : used + 1],
            position_ids=torch.tensor([[row.length] for row in self._rows], device=device),
            past_key_values=cache,
            use_cache=True,
        )
        self.forward_passes += 1
        tokens = self._sample(out.logits[:, -1], [row.request for row in self._rows])
        for row, token in zip(self._rows, tokens, strict=True):
            row.length += 1
            row.generated.append(token)
            self._finished(row)

    def _sample(self, logits: Any, requests: Sequence[Request]) -> list[int]:
        tokens = logits.argmax(-1).tolist()
        for i, request in enumerate(requests):
            temperature = request.params.temperature
            if temperature > 0:
                probs = torch.softmax(logits[i].float() / temperature, dim=-1)
                generator = request.generator or self.generator
                tokens[i] = int(torch.multinomial(probs, 1, generator=generator))
        return tokens

    def _finished(self, row: _Row) -> bool:
        """Reply to the row's caller if it is done (and cache its keys/values for its next call)."""
        params, ids = row.request.params, row.generated
        if ids[-1] in self.eos:
            completion = self._complete(ids[:-1], params.stop, "stop")
        elif params.stop and _first_stop(self._decode(ids), params.stop) is not None:
            completion = self._complete(ids, params.stop, "stop")
        elif len(ids) >= params.max_tokens:
            completion = self._complete(ids, params.stop, "length")
        else:
            return False
        self._remember(row)
        row.request.future.set_result(completion)
        return True

    def _remember(self, row: _Row) -> None:
        """Cache a retired row's keys/values: the agent's next prompt starts with these tokens."""
        if not self._layers or row not in self._rows:
            return
        b, used = self._rows.index(row), self._layers[0].used
        start = used - row.length  # rows are right-aligned; the last sampled token is not fed yet
        kv = [
            (layer.k[b : b + 1, :, start:used].clone(), layer.v[b : b + 1, :, start:used].clone())
            for layer in self._layers
        ]
        self.prefixes.add([*row.request.prompt_ids, *row.generated][: row.length], kv)

    def _complete(self, ids: list[int], stop: tuple[str, ...], reason: str) -> Completion:
        """Cut a reply at its first stop string, keeping only the tokens the cut text needs."""
        text = self._decode(ids)
        hit = _first_stop(text, stop)
        if hit is not None:
            text, reason = text[:hit], "stop"
            while ids and _first_stop(self._decode(ids[:-1]), stop) == hit:
                ids = ids[:-1]
        return Completion(text=text, token_ids=list(ids), finish_reason=reason)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def _full_attention_layers(cache: Any) -> list[Any]:
    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer for layer in layers):
        kinds = sorted({type(layer).__name__ for layer in layers or []})
        raise UsageError(
            f"continuous batching needs full attention in every layer; this model's cache has {kinds}"
        )
    return layers


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = {tokenizer.eos_token_id}
    configured = model.generation_config.eos_token_id
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}


def _nbytes(kv: list[tuple[Any, Any]]) -> int:
    return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)


def _common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def _first_stop(text: str, stop: Sequence[str]) -> int | None:
    """The end offset of the earliest stop string in ``text``, or None."""
    hits = [(i, i + len(s)) for s in stop if s and (i := text.find(s)) >= 0]
    return min(hits)[1] if hits else None
