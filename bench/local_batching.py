"""Tokens per second of concurrent graph runs on the embedded model, batched vs one at a time.

    .venv/bin/python bench/local_batching.py [--runs 16] [--repeats 3] [--max-steps 3]
        [--max-tokens 64] [--threads N]

The same ``--runs`` GSM8K questions (the first of the test split, not trained on) go through the
SWiRL graph with the calculator on the embedded SmolLM2, greedy, twice per repeat, side by side in
one process: ``graph.batch(..., max_concurrency=runs)`` (LocalChatModel's engine decodes the
concurrent model calls together, continuous batching), and one run after another. Tokens are the generated token ids
of every step; each pass starts with an empty prefix cache, so neither side reuses the prompts the
other prefilled. Prints one JSON line last: medians over repeats of both rates and of their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from tqdm import tqdm

from swirl_agents.agent import create_swirl_agent
from swirl_agents.datasets import load_questions
from swirl_agents.models import load_chat_model
from swirl_agents.tools.calculator import calculator


def tokens(states: list[dict[str, Any]]) -> int:
    return sum(len(step.token_ids or []) for s in states for step in s["steps"])


def measure(graph: Any, inputs: list[dict[str, Any]], batched: bool) -> tuple[float, int, list]:
    """Tokens per second of one pass over ``inputs``, its token count, and the final states."""
    started = time.perf_counter()
    if batched:
        states = graph.batch(inputs, config={"max_concurrency": len(inputs)})
    else:
        states = [graph.invoke(x) for x in inputs]
    elapsed = time.perf_counter() - started
    return tokens(states) / elapsed, tokens(states), states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=16, help="concurrent graph runs")
    parser.add_argument("--repeats", type=int, default=3, help="side-by-side repeats (median)")
    parser.add_argument("--max-steps", type=int, default=3, help="step budget per run")
    parser.add_argument("--max-tokens", type=int, default=64, help="new tokens per model call")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["SWIRL_NUM_THREADS"] = str(args.threads)  # the engine's worker runs the passes
    model = load_chat_model("smollm2", max_tokens=args.max_tokens, max_batch_size=args.runs)
    graph = create_swirl_agent(model, [calculator], max_steps=args.max_steps, task="math")
    inputs = [{"question": q.question} for q in load_questions("gsm8k", "test", limit=args.runs)]
    graph.invoke(inputs[0])  # warm-up: first-call allocations are not part of either figure

    rows = []
    for repeat in tqdm(range(args.repeats), desc="repeats", file=sys.stderr):
        # Alternate the order so that drifting machine load does not favour one side.
        order = (False, True) if repeat % 2 == 0 else (True, False)
        result: dict[str, Any] = {}
        for batched in order:
            # Both sides start cold: a pass must not reuse the prompts the other side prefilled.
            model.engine.prefixes.clear()
            passes, seconds = model.forward_passes, dict(model.engine.seconds)
            reallocations = model.engine.reallocations
            rate, n_tokens, states = measure(graph, inputs, batched)
            key = "batched" if batched else "sequential"
            result[key] = {
                "tokens_per_s": rate,
                "tokens": n_tokens,
                "forward_passes": model.forward_passes - passes,
                "reallocations": model.engine.reallocations - reallocations,
                "engine_seconds": {
                    k: round(v - seconds[k], 2) for k, v in model.engine.seconds.items()
                },
                "steps": [len(s["steps"]) for s in states],
            }
        result["speedup"] = result["batched"]["tokens_per_s"] / result["sequential"]["tokens_per_s"]
        print(
            f"repeat {repeat + 1}: sequential {result['sequential']['tokens_per_s']:.1f} tok/s "
            f"({result['sequential']['forward_passes']} forward passes), batched "
            f"{result['batched']['tokens_per_s']:.1f} tok/s ({result['batched']['forward_passes']} "
            f"passes), speed-up {result['speedup']:.2f}x",
            file=sys.stderr,
        )
        rows.append(result)

    figures = {
        "bench": "local_batching",
        "model": model.model_name,
        "runs": args.runs,
        "repeats": args.repeats,
        "max_steps": args.max_steps,
        "max_tokens": args.max_tokens,
        "torch_threads": torch.get_num_threads(),
        "sequential_tokens_per_s": statistics.median(r["sequential"]["tokens_per_s"] for r in rows),
        "batched_tokens_per_s": statistics.median(r["batched"]["tokens_per_s"] for r in rows),
        "speedup": statistics.median(r["speedup"] for r in rows),
        "same_tokens": all(r["sequential"]["tokens"] == r["batched"]["tokens"] for r in rows),
        "forward_passes": {
            "sequential": rows[-1]["sequential"]["forward_passes"],
            "batched": rows[-1]["batched"]["forward_passes"],
        },
        "engine_seconds": {
            "sequential": rows[-1]["sequential"]["engine_seconds"],
            "batched": rows[-1]["batched"]["engine_seconds"],
        },
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
