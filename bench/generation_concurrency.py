"""Speed-up of concurrent over sequential trajectory generation against a latency-bound model.

    .venv/bin/python bench/generation_concurrency.py [--latency 0.5] [--concurrency 32] [--repeats 3]

A local fake chat model sleeps ``--latency`` seconds per call (like a remote API) and answers in
two steps (a calculator call, then the answer). ``swirl_agents.generate.generate`` runs the same
questions sequentially and with ``--concurrency`` runs in flight, in one process, side by side;
the speed-up is the ratio of runs per second. Prints one JSON line last (medians of repeats).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from swirl_agents.datasets import Question
from swirl_agents.generate import generate
from swirl_agents.tools.calculator import calculator
from swirl_agents.traces import SQLiteTraceStore


class LatencyChatModel(BaseChatModel):
    """Sleeps ``latency`` seconds per call, then computes 6*7 once and answers with the result."""

    latency: float = 0.2

    @property
    def _llm_type(self) -> str:
        return "latency-fake"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, **kw: Any) -> ChatResult:
        time.sleep(self.latency)
        last = messages[-1].text
        text = "<answer>42</answer>" if "->" in last else "Multiply. <math_exp>6*7</math_exp>"
        msg = AIMessage(text, response_metadata={"finish_reason": "stop"})
        return ChatResult(generations=[ChatGeneration(message=msg)])


def runs_per_s(model: BaseChatModel, n: int, concurrency: int) -> float:
    questions = [
        Question(f"q{i}", f"What is 6 times 7? ({i})", "42", "bench", "train") for i in range(n)
    ]
    with tempfile.TemporaryDirectory() as tmp, SQLiteTraceStore(Path(tmp) / "b.db") as store:
        report = generate(
            model, questions, store=store, tools=[calculator], task="math", max_steps=4,
            samples=1, concurrency=concurrency, progress=False,
        )  # fmt: skip
        if report.done != n or store.count(outcome="answered") != n:
            sys.exit(f"expected {n} answered runs, got {report.summary()}")
    return report.runs_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--latency", type=float, default=0.5, help="seconds per model call (a remote API: 0.5-2 s)"
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--waves", type=int, default=4, help="runs per slot in the concurrent job")
    parser.add_argument("--sequential-runs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = LatencyChatModel(latency=args.latency)
    speedups, seq, conc = [], [], []
    for _ in range(args.repeats):
        seq.append(runs_per_s(model, args.sequential_runs, 1))
        conc.append(runs_per_s(model, args.concurrency * args.waves, args.concurrency))
        speedups.append(conc[-1] / seq[-1])
        print(f"sequential {seq[-1]:.2f} runs/s, concurrency {args.concurrency} {conc[-1]:.2f} runs/s, "
              f"speed-up {speedups[-1]:.1f}x", file=sys.stderr)  # fmt: skip
    print(
        json.dumps(
            {
                "latency_s": args.latency,
                "concurrency": args.concurrency,
                "sequential_runs_per_s": round(statistics.median(seq), 3),
                "concurrent_runs_per_s": round(statistics.median(conc), 3),
                "speedup": round(statistics.median(speedups), 2),
                # against the latency bound: concurrency runs of 2 calls every 2 x latency seconds
                "efficiency_vs_ideal": round(
                    statistics.median(conc) * 2 * args.latency / args.concurrency, 3
                ),
                "ideal": args.concurrency,
                "goal": round(0.9 * args.concurrency, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
