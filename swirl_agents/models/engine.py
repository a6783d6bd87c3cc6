"""Continuous batching for a local transformers causal LM (the engine behind LocalChatModel).

One worker thread owns the model. Requests join the running batch as soon as they arrive and
leave it the step they finish, so an agent whose call ended can run its tool and come back
while the others are still decoding: nobody waits for the longest row. The loop is

    admit:   prefill each new prompt alone (from the cached keys/values of its longest known
             prefix: the system prompt, or the same agent's previous call), then copy it into
             the batch after the running rows, right-aligned, the padding masked;
    decode:  one forward pass for every running row, one new token each;
    retire:  rows that hit eos, a stop string or their token cap get their reply, their
             keys/values are cached for the agent's next call, and the last row moves into
             their place.

All rows' keys/values live in one tensor that is kept between steps and written in place.
Two things that dominated a batched step on a 2-core CPU are gone: transformers' DynamicLayer
copies the whole cache with ``torch.cat`` at every token, and a fresh tensor of this size costs
a page fault per 4 KiB. Sliding-window models (Mistral, Gemma 2/3) are served too: every
layer keeps all its keys and the model's own masks apply the window. A model whose cache is not
built from plain full-length layers (state-space or hybrid models) is refused with a clear error.
"""

from __future__ import annotations

import atexit
import inspect
import os
import queue
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from swirl_agents.errors import UsageError
from swirl_agents.models import threads

_MIN_PREFIX = 16  # shorter cached prefixes are not worth a lookup hit
_GROWTH = 1.5  # the batch tensor grows by this factor (rows or columns) when it is full


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
    """One layer's keys/values in the batch: [slots, heads, capacity, dim], columns [start, used).

    A DynamicLayer that writes new tokens into spare columns in place instead of concatenating.
    Rows are right-aligned at ``used``; ``start`` is where the longest row begins.
    """

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, start: int, used: int) -> None:
        super().__init__()
        self.k, self.v, self.start, self.used = keys, values, start, used
        self.dtype, self.device = keys.dtype, keys.device
        self.is_initialized = True

    @property
    def keys(self) -> torch.Tensor:
        return self.k[:, :, self.start : self.used]

    @keys.setter
    def keys(self, value: Any) -> None:  # DynamicLayer.__init__ assigns; the buffers hold the data
        pass

    @property
    def values(self) -> torch.Tensor:
        return self.v[:, :, self.start : self.used]

    @values.setter
    def values(self, value: Any) -> None:
        pass

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple:
        n = key_states.shape[-2]  # the engine made room: k and v are views of its batch tensor
        self.k[:, :, self.used : self.used + n] = key_states
        self.v[:, :, self.used : self.used + n] = value_states
        self.used += n
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.used - self.start

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.used - self.start + query_length, 0

    def get_max_length(self) -> int:
        return -1


class PrefixStore:
    """Keys/values of recent token sequences (one row each), least recently used dropped first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, ...], torch.Tensor] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def longest(self, ids: Sequence[int]) -> tuple[int, torch.Tensor | None]:
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

    def add(self, ids: Sequence[int], kv: torch.Tensor) -> None:
        key = tuple(ids)
        if len(key) < _MIN_PREFIX or self.max_bytes <= 0:
            return
        # An entry that is a prefix of the new one is now redundant.
        for old in [k for k in self._entries if len(k) <= len(key) and key[: len(k)] == k]:
            self._drop(old)
        self._entries[key] = kv
        self._bytes += kv.nbytes
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def _drop(self, key: tuple[int, ...]) -> None:
        self._bytes -= self._entries.pop(key).nbytes


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
        self.eos = eos_ids(model, tokenizer)
        self.forward_passes = 0  # prefill and decode passes: fewer than calls x tokens = batching
        self.seconds = {"prefill": 0.0, "admit": 0.0, "decode": 0.0}  # where the time went
        self.reallocations = 0  # batch tensor grown or columns shifted: a whole-batch copy
        self._queue: queue.SimpleQueue[Request | None] = queue.SimpleQueue()  # None: stop
        self._waiting: deque[Request] = deque()
        # The running rows, packed: row i's keys/values are _kv[:, :, i], right-aligned at _used.
        # The tensor is kept and reused (fresh allocations of this size fault in every page).
        self._rows: list[_Row] = []
        self._kv: Any = None  # [layers, 2, row capacity, heads, column capacity, dim]
        self._mask: Any = None  # [row capacity, column capacity], 1 where a column is a real token
        self._used = 0  # columns written: every row ends at this column
        self._name = name
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        # transformers 5 renamed the forward's `past_key_values` to `cache` (the old name warns)
        self._cache_arg = cache_argument(model)
        if self.model.device.type == "cpu":  # other CPU jobs on this machine share the cores
            threads.register_job()
        threads.policy_threads()  # a bad $SWIRL_NUM_THREADS fails here, on the caller's thread

    def submit(self, request: Request) -> Future:
        if not request.prompt_ids:
            raise ValueError("a prompt needs at least one token")
        if request.params.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {request.params.max_tokens}")
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._start_worker()
        self._queue.put(request)
        return request.future

    def _start_worker(self) -> None:
        # The worker holds the engine only while it has work: dropping the engine (with the
        # LocalChatModel that owns it) frees the model and its caches, and parks the thread for
        # the next engine. Workers never end: a thread that ran torch and ends while the process
        # exits can abort it ("terminate called without an active exception").
        job = (weakref.ref(self), self._queue)
        try:
            self._worker, inbox = _PARKED.get_nowait()
            inbox.put(job)
        except queue.Empty:
            self._worker = threading.Thread(target=_work, args=job, daemon=True)
            self._worker.start()
        self._worker.name = f"swirl-engine-{self._name}"
        weakref.finalize(self, self._queue.put, None).atexit = False  # None: the engine is gone

    # --- the loop --------------------------------------------------------------------------------
    def _serve_until_idle(self, first: Request) -> None:
        """Run batches from ``first`` on until no call is running or waiting."""
        self._waiting.append(first)
        self._take_arrivals(wait_s=self.batch_wait_s)  # let the first call's companions join
        while self._rows or self._waiting:
            self._take_arrivals()
            self._refresh_threads()
            taken: list[Request] = []
            with torch.inference_mode():
                try:
                    started = time.perf_counter()
                    taken = self._admissible()
                    admitted = [r for r in map(self._prefill, taken) if r]
                    rebuilding = time.perf_counter()
                    self._admit(admitted)
                    decoding = time.perf_counter()
                    if self._rows:
                        self._decode_step()
                    self.seconds["prefill"] += rebuilding - started
                    self.seconds["admit"] += decoding - rebuilding
                    self.seconds["decode"] += time.perf_counter() - decoding
                except BaseException as exc:  # noqa: BLE001 - the callers get it, the worker lives on
                    # the running rows and the ones being admitted (not yet among them) fail
                    for request in [*taken, *(row.request for row in self._rows)]:
                        if not request.future.done():
                            request.future.set_exception(exc)
                    self._rows, self._kv, self._mask = [], None, None
        self._kv = self._mask = None  # idle: give the batch memory back (GBs for long prompts)

    def _refresh_threads(self) -> None:
        """Run this (worker) thread's share of the cores: torch threads are per calling thread."""
        try:
            threads.refresh_threads()
        except Exception:  # noqa: BLE001 - e.g. $SWIRL_NUM_THREADS made invalid since: keep going
            pass

    def _take_arrivals(self, wait_s: float = 0.0) -> None:
        """Move queued requests to the waiting list, waiting up to ``wait_s`` for a full batch."""
        deadline = time.monotonic() + wait_s
        while len(self._waiting) < self.max_batch_size or not wait_s:
            try:
                timeout = deadline - time.monotonic()
                request = (
                    self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
                )
            except queue.Empty:
                return
            self._waiting.append(request)

    def _admissible(self) -> list[Request]:
        room = self.max_batch_size - len(self._rows)
        return [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]

    def _prefill(self, request: Request) -> tuple[_Row, torch.Tensor] | None:
        """Run one prompt alone from its longest cached prefix; its first token and keys/values."""
        ids = request.prompt_ids
        try:
            reused, kv = self.prefixes.longest(ids)
            reused = min(reused, len(ids) - 1)  # at least one token goes through the model
            cache = DynamicCache()
            if reused:
                cache = DynamicCache(
                    ddp_cache_data=[(k[:, :, :reused], v[:, :, :reused]) for k, v in kv.unbind(0)]
                )
            device = self.model.device
            out = self.model(
                input_ids=torch.tensor([ids[reused:]], device=device),
                position_ids=torch.arange(reused, len(ids), device=device)[None],
                use_cache=True,
                logits_to_keep=1,
                **{self._cache_arg: cache},
            )
            self.forward_passes += 1
            layers = _full_attention_layers(output_cache(out))
            # one tensor per row, [layers, 2, 1, heads, tokens, dim]: moving it is one op
            kv = torch.stack([t for layer in layers for t in (layer.keys, layer.values)])
            kv = kv.unflatten(0, (len(layers), 2))
            self.prefixes.add(ids, kv)
            token = self._sample(out.logits[:, -1], [request])[0]
        except BaseException as exc:  # noqa: BLE001
            request.future.set_exception(exc)
            return None
        row = _Row(request, length=len(ids), generated=[token])
        if self._finished(row):  # one token can be enough (eos, max_tokens=1)
            return None
        return row, kv

    def _admit(self, admitted: list[tuple[_Row, torch.Tensor]]) -> None:
        """Append admitted rows after the running ones, copying only their own keys/values."""
        if not admitted:
            return
        longest = max(row.length for row, _ in admitted)
        self._make_room(rows=len(self._rows) + len(admitted), columns=longest, like=admitted[0][1])
        for row, kv in admitted:
            b, used = len(self._rows), self._used
            self._kv[:, :, b, :, used - row.length : used] = kv[:, :, 0]
            self._mask[b] = 0
            self._mask[b, used - row.length : used] = 1
            self._rows.append(row)

    def _retire(self, b: int) -> None:
        """Drop row ``b``: the last row moves into its place (one row's copy, not the batch's)."""
        last = len(self._rows) - 1
        if b != last:
            span = self._rows[last].length
            cols = slice(self._used - span, self._used)
            self._kv[:, :, b, :, cols] = self._kv[:, :, last, :, cols]
            self._mask[b] = self._mask[last]
            self._rows[b] = self._rows[last]
        self._rows.pop()

    def _make_room(self, rows: int, columns: int, like: torch.Tensor) -> None:
        """Make the batch tensor hold ``rows`` rows of ``columns`` tokens and one more column."""
        if self._kv is None:
            layers, _, _, heads, _, dim = like.shape
            capacity = int(columns * _GROWTH) + 1
            self._kv = like.new_zeros(layers, 2, rows, heads, capacity, dim)
            self._mask = torch.zeros(rows, capacity, dtype=torch.long, device=like.device)
            self._used = columns
        longest = max((row.length for row in self._rows), default=0)
        n = len(self._rows)
        if columns > self._used or self._used + 1 > self._kv.shape[4]:
            # Slide the rows so that they end at `width` (left room for the longer row, and right
            # room for decoding), growing the columns if they do not fit.
            width = max(longest, columns)
            if width + 1 > self._kv.shape[4]:
                self._grow(columns=int((width + 1) * _GROWTH))
            span = min(longest, self._used)
            if n and span:
                src = self._kv[:, :, :n, :, self._used - span : self._used].clone()
                self._kv[:, :, :n, :, width - span : width] = src
                mask = self._mask[:n, self._used - span : self._used].clone()
                self._mask[:n] = 0
                self._mask[:n, width - span : width] = mask
            self._used = width
            self.reallocations += 1
        if rows > self._kv.shape[2]:
            self._grow(rows=min(self.max_batch_size, max(rows, int(self._kv.shape[2] * _GROWTH))))

    def _grow(self, rows: int | None = None, columns: int | None = None) -> None:
        """A bigger batch tensor (zeros; NaN-free padding matters: masked weights are 0 * value)."""
        old, old_mask = self._kv, self._mask
        _, _, r, _, c, _ = old.shape
        rows, columns = rows or r, columns or c
        self._kv = old.new_zeros(*old.shape[:2], rows, old.shape[3], columns, old.shape[5])
        self._kv[:, :, :r, :, :c] = old
        self._mask = old_mask.new_zeros(rows, columns)
        self._mask[:r, :c] = old_mask
        self.reallocations += 1

    def _decode_step(self) -> None:
        """Feed every row its last token; sample the next; retire the rows that are done."""
        self._make_room(rows=len(self._rows), columns=0, like=self._kv)
        n, used = len(self._rows), self._used
        start = used - max(row.length for row in self._rows)
        self._mask[:n, used] = 1
        device = self.model.device
        cache = DynamicCache()
        cache.layers = [
            _BufferLayer(k[:n], v[:n], start=start, used=used) for k, v in self._kv.unbind(0)
        ]
        out = self.model(
            input_ids=torch.tensor([[row.generated[-1]] for row in self._rows], device=device),
            attention_mask=self._mask[:n, start : used + 1],
            position_ids=torch.tensor([[row.length] for row in self._rows], device=device),
            use_cache=True,
            **{self._cache_arg: cache},
        )
        self.forward_passes += 1
        self._used += 1
        tokens = self._sample(out.logits[:, -1], [row.request for row in self._rows])
        for b in reversed(range(n)):  # backwards: retiring moves the last row into b
            row = self._rows[b]
            row.length += 1
            row.generated.append(tokens[b])
            if self._finished(row, b):
                self._retire(b)

    def _sample(self, logits: Any, requests: Sequence[Request]) -> list[int]:
        tokens = logits.argmax(-1).tolist()
        for i, request in enumerate(requests):
            temperature = request.params.temperature
            if temperature > 0:
                probs = torch.softmax(logits[i].float() / temperature, dim=-1)
                generator = request.generator or self.generator
                if generator.device != probs.device:  # a call's own seed lives on the CPU
                    probs = probs.to(generator.device)
                tokens[i] = int(torch.multinomial(probs, 1, generator=generator))
        return tokens

    def _finished(self, row: _Row, b: int | None = None) -> bool:
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
        if b is not None:
            self._remember(row, b)
        row.request.future.set_result(completion)
        return True

    def _remember(self, row: _Row, b: int) -> None:
        """Cache a retired row's keys/values: the agent's next prompt starts with these tokens."""
        start = self._used - row.length  # right-aligned; the last sampled token is not fed yet
        kv = self._kv[:, :, b : b + 1, :, start : self._used].clone()
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


# Workers whose engine was dropped, as (thread, inbox): the next engine hands its job to one.
_PARKED: queue.Queue[tuple[threading.Thread, queue.SimpleQueue]] = queue.Queue()
# Every live worker and the queue it waits on now; at exit each gets _STOP and is joined.
_LIVE: dict[threading.Thread, list[queue.SimpleQueue]] = {}
_STOP = object()


def _work(engine_ref: weakref.ref[BatchEngine], requests: queue.SimpleQueue) -> None:
    """A worker thread: serves one engine until it is dropped, then waits for the next one.

    Between batches it holds only the engine's queue, not the engine. It returns only when
    :func:`_stop_workers` asks at exit."""
    waits_on = _LIVE.setdefault(threading.current_thread(), [requests])
    while True:
        while (request := requests.get()) is not None:  # None: the engine was dropped
            if request is _STOP:
                return
            engine = engine_ref()
            if engine is None:
                request.future.set_exception(
                    RuntimeError("the model serving this call was dropped")
                )
                continue
            engine._serve_until_idle(request)
            del engine  # may drop the last reference: its finalizer then queues None
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        waits_on[0] = inbox
        _PARKED.put((threading.current_thread(), inbox))
        job = inbox.get()
        if job is _STOP:
            return
        engine_ref, requests = job
        waits_on[0] = requests


@atexit.register
def _stop_workers(timeout_s: float = 10.0) -> None:
    """End every worker while the interpreter still runs normally (atexit comes before
    finalization). A daemon thread that last ran torch and is woken *during* finalization is
    killed mid-C++ frame, which aborts the process ("terminate called without an active
    exception"); a worker that returned and was joined here cannot be."""
    for waits_on in list(_LIVE.values()):
        waits_on[0].put(_STOP)
    deadline = time.monotonic() + timeout_s
    for thread in list(_LIVE):
        thread.join(max(0.0, deadline - time.monotonic()))


def cache_argument(model: Any) -> str:
    """The name the model's forward takes its cache by: ``cache`` (transformers >= 5.2x) or
    ``past_key_values`` (before; deprecated after). A PEFT model passes its keywords on to the
    model it wraps, so that model's forward decides."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        params = inspect.signature(inner.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def output_cache(out: Any) -> Any:
    """The cache a forward returned (``out.past_key_values`` warns where it was renamed)."""
    return out["cache"] if "cache" in out else out.past_key_values


def _full_attention_layers(cache: Any) -> list[Any]:
    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer for layer in layers):
        kinds = sorted({type(layer).__name__ for layer in layers or []})
        raise UsageError(
            f"continuous batching needs full attention in every layer; this model's cache has {kinds}"
        )
    return layers


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """The token ids that end a turn: the tokenizer's and the generation config's."""
    ids = {tokenizer.eos_token_id}
    configured = model.generation_config.eos_token_id
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}


def _common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def _first_stop(text: str, stop: Sequence[str]) -> int | None:
    """The end offset of the earliest stop string in ``text``, or None."""
    hits = [(i, i + len(s)) for s in stop if s and (i := text.find(s)) >= 0]
    return min(hits)[1] if hits else None
