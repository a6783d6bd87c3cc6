"""Progress a person can read on long runs: model calls and tokens, not only finished runs.

A batch of agent runs on a CPU can go minutes before the first run finishes, so a bar that
counts finished runs reads as a hang. :class:`StepProgress` is a LangChain callback handler that
counts every finished model call (a step) and its generated tokens, and a ticker thread that
writes them, with their rates, onto the run bar every few seconds:

    eval smollm2:  12%|█▏  | 37/300 [01:10<08:20, acc 0.05 | steps 131 (1.9/s) | tokens 4.2k (61/s)]
"""

from __future__ import annotations

import threading
import time
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler


class StepProgress(BaseCallbackHandler):
    """Counts model calls and generated tokens; shows them on ``bar`` (a tqdm bar) while running."""

    def __init__(self, bar: Any, interval: float = 2.0) -> None:
        self.bar, self.interval = bar, interval
        self.steps = self.tokens = 0
        self.fields: dict[str, str] = {}  # extra fields the caller updates (accuracy, failed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = time.time()
        self._thread: threading.Thread | None = None

    def on_llm_end(self, response: Any, **_: Any) -> None:
        tokens = 0
        for generations in response.generations:
            for g in generations:
                tokens += _tokens_of(g)
        with self._lock:
            self.steps += 1
            self.tokens += tokens

    def note(self, **fields: Any) -> None:
        """Set fields shown before the counters (e.g. ``acc="0.12"``) and refresh the bar."""
        self.fields.update({k: str(v) for k, v in fields.items()})
        self.show()

    def text(self) -> str:
        seconds = max(time.time() - self._started, 1e-9)
        with self._lock:
            steps, tokens = self.steps, self.tokens
        parts = [f"{k} {v}" for k, v in self.fields.items()]
        parts.append(f"steps {steps} ({steps / seconds:.1f}/s)")
        if tokens:
            parts.append(f"tokens {_short(tokens)} ({tokens / seconds:.0f}/s)")
        return " | ".join(parts)

    def show(self) -> None:
        if not getattr(self.bar, "disable", False):
            self.bar.set_postfix_str(self.text(), refresh=True)

    def __enter__(self) -> StepProgress:
        self._started = time.time()
        self._thread = threading.Thread(target=self._tick, name="swirl-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.show()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self.show()


def _tokens_of(generation: Any) -> int:
    """Generated tokens of one generation: usage metadata, else the local model's token ids."""
    message = getattr(generation, "message", None)
    usage = getattr(message, "usage_metadata", None) or {}
    if usage.get("output_tokens"):
        return int(usage["output_tokens"])
    ids = (getattr(message, "response_metadata", None) or {}).get("token_ids")
    return len(ids) if ids else 0


def _short(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)
